"""Runs the reference's decision branches on the sets of make_sets.py and writes one JSON
line per request and searcher: F1, precision, recall, result count, train and search time.

The reference's searchers as CLIP-Branches configures them (apps/search/app/template.json):
- db: one BoxClassifier, max_nbox 30, max_evals "all", stop_infinite, post-trees,
  min_pts = min(50, int(1.5 * positives));
- ens: Ensemble of 25, max_evals 0.5, no stop_infinite, no post-trees; an image is returned
  when more than 25 // 2 boxes hold it.
Boxes are turned to u8 bounds with the reference's get_boxes_uint8; the result is the ids
inside each box (a scan of the features, the same ids its kd-tree box query returns),
filtered by the box's post-tree.

Usage: python run_reference.py SETS_DIR --reference DECISIONBRANCHES_DIR [--sets a,b]
       [--searchers db,ens] [--seeds N] > reference.jsonl
(each request runs with seeds 42 .. 42 + N - 1, default 1)
"""

import argparse
import json
import sys
import time
import types
from pathlib import Path

import numpy as np


def import_reference(path):
    # The reference imports torch only for isinstance checks on its inputs.
    try:
        import torch  # noqa: F401
    except ImportError:
        stub = types.ModuleType("torch")
        stub.Tensor = type("Tensor", (), {})
        sys.modules["torch"] = stub
    sys.path.insert(0, str(path))
    from decisionbranches.models.boxSearch.boxClassifier import BoxClassifier
    from decisionbranches.models.boxSearch.ensemble import Ensemble

    return BoxClassifier, Ensemble


def inside(x, lo, hi, dims):
    part = x[:, dims]
    return np.all((part >= lo) & (part <= hi), axis=1)


def run_dbranches(BoxClassifier, x, subsets, x_train, y_train, seed):
    cfg = {
        "max_nbox": 30,
        "top_down": False,
        "max_evals": "all",
        "stop_infinite": True,
        "min_pts": min(50, int(y_train.sum() * 1.5)),
    }
    model = BoxClassifier(
        tot_feat=x.shape[1], indices=subsets, cfg=cfg, postTree=True, n_jobs=1,
        seed=seed, verbose=False,
    )
    start = time.perf_counter()
    model.fit(x_train, y_train)
    mins, maxs, fidxs = model.get_boxes_uint8()
    train = time.perf_counter() - start
    start = time.perf_counter()
    found = np.zeros(len(x), dtype=bool)
    in_boxes = np.zeros(len(x), dtype=bool)
    for b, (lo, hi, dims) in enumerate(zip(mins, maxs, fidxs)):
        ids = np.where(inside(x, np.array(lo), np.array(hi), dims))[0]
        in_boxes[ids] = True
        tree = model.trees[b]
        if tree is not None and len(ids):
            ids = ids[tree.predict(x[ids].astype(np.float64)).astype(bool)]
        found[ids] = True
    return found, train, time.perf_counter() - start, len(mins), int(in_boxes.sum())


def run_ensemble(Ensemble, x, subsets, x_train, y_train, seed):
    cfg = {
        "max_nbox": 30,
        "top_down": False,
        "max_evals": 0.5,
        "stop_infinite": False,
        "min_pts": min(50, int(y_train.sum() * 1.5)),
    }
    model = Ensemble(
        n_estimators=25, tot_feat=x.shape[1], indices=subsets, cfg=cfg, postTree=False,
        n_jobs=1, seed=seed, verbose=False,
    )
    start = time.perf_counter()
    model.fit(x_train, y_train)
    mins, maxs, fidxs = model.get_boxes_uint8()
    train = time.perf_counter() - start
    start = time.perf_counter()
    hits = np.zeros(len(x), dtype=np.int32)
    for lo, hi, dims in zip(mins, maxs, fidxs):
        hits += inside(x, np.array(lo), np.array(hi), dims)
    return hits > 25 // 2, train, time.perf_counter() - start, len(mins), int((hits > 0).sum())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sets")
    parser.add_argument("--reference", required=True)
    parser.add_argument("--sets", dest="only", default=None)
    parser.add_argument("--searchers", default="db,ens")
    parser.add_argument("--seeds", type=int, default=1)
    args = parser.parse_args()
    BoxClassifier, Ensemble = import_reference(args.reference)
    folders = sorted(p for p in Path(args.sets).iterdir() if (p / "requests.json").exists())
    if args.only:
        folders = [p for p in folders if p.name in args.only.split(",")]
    for folder in folders:
        x = np.load(folder / "features.npy")
        subsets = json.loads((folder / "subsets.json").read_text())
        for request in json.loads((folder / "requests.json").read_text()):
            positives = request["positives"]
            negatives = request["negatives"] + request["random_negatives"]
            x_train = x[positives + negatives].astype(np.float64)
            y_train = np.array([1] * len(positives) + [0] * len(negatives))
            members = np.zeros(len(x), dtype=bool)
            members[request["members"]] = True
            runs = [(searcher, seed) for searcher in args.searchers.split(",") for seed in range(42, 42 + args.seeds)]
            for searcher, seed in runs:
                train_with = {"db": (run_dbranches, BoxClassifier), "ens": (run_ensemble, Ensemble)}
                run, model = train_with[searcher]
                found, train, search, boxes, in_boxes = run(model, x, subsets, x_train, y_train, seed)
                true_positives = int((found & members).sum())
                count = int(found.sum())
                precision = true_positives / count if count else 0.0
                recall = true_positives / int(members.sum())
                f1 = 2 * precision * recall / (precision + recall) if true_positives else 0.0
                print(json.dumps({
                    "set": folder.name, "request": request["name"], "searcher": searcher, "seed": seed,
                    "f1": f1, "precision": precision, "recall": recall, "count": count,
                    "boxes": boxes, "in_boxes": in_boxes, "train_ms": train * 1e3, "search_ms": search * 1e3,
                }), flush=True)


if __name__ == "__main__":
    main()
