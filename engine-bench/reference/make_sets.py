"""Seeded request sets for the side-by-side run of this project's decision branches and
the reference's (CLIP-Branches' bundled `decisionbranches`).

Writes, per set, `features.npy` (u8, n x dims), `subsets.json` (the reference's tree
shape: 64 subsets of 4 dims, 32 of 6, 8 of 8) and `requests.json` (per request: the
concept's members, the labelled positives and negatives, and 500 random negatives drawn
once here, so both implementations train on exactly the same rows).

Sets: rare compact clusters of several shapes and sizes (round, elongated along a random
direction, two-lobed) in a background of broad blobs, 32-d at 100,000 and 1,000,000
points; and scikit-learn's digits (64-d, 0..16 scaled to 0..240), one request per class.

Usage: python make_sets.py OUT_DIR [--large]   (--large adds the 1,000,000-point set)
"""

import json
import sys
from pathlib import Path

import numpy as np

RANDOM_NEGATIVES = 500


def subsets(dims, rng):
    out = []
    for size, count in [(4, 64), (6, 32), (8, 8)]:
        for _ in range(count):
            out.append(sorted(int(d) for d in rng.choice(dims, size=size, replace=False)))
    return out


def quantise(x):
    lo = np.percentile(x, 0.1, axis=0)
    hi = np.percentile(x, 99.9, axis=0)
    q = np.round((x - lo) / (hi - lo) * 255.0)
    return np.clip(q, 0, 255).astype(np.uint8)


def unit(v):
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def cluster_points(kind, size, dims, rng):
    centre = unit(rng.normal(size=dims))
    if kind == "round":
        pts = centre + rng.normal(scale=0.012, size=(size, dims))
    elif kind == "wide":
        pts = centre + rng.normal(scale=0.03, size=(size, dims))
    elif kind == "elongated":
        direction = unit(rng.normal(size=dims))
        t = rng.uniform(-1, 1, size=(size, 1)) * 0.12
        pts = centre + t * direction + rng.normal(scale=0.01, size=(size, dims))
    elif kind == "two-lobed":
        other = unit(centre + rng.normal(scale=0.06, size=dims))
        half = size // 2
        pts = np.vstack(
            [
                centre + rng.normal(scale=0.012, size=(half, dims)),
                other + rng.normal(scale=0.012, size=(size - half, dims)),
            ]
        )
    else:
        raise ValueError(kind)
    return unit(pts)


CLUSTERS = [
    ("round", 300),
    ("round", 1500),
    ("wide", 800),
    ("elongated", 600),
    ("elongated", 2000),
    ("two-lobed", 1000),
]


def rare_set(n, dims, seed):
    rng = np.random.default_rng(seed)
    background_n = n - sum(size for _, size in CLUSTERS)
    centres = unit(rng.normal(size=(64, dims)))
    which = rng.integers(0, 64, size=background_n)
    x = unit(centres[which] + rng.normal(scale=0.35, size=(background_n, dims)))
    parts, concepts, start = [x], [], background_n
    for kind, size in CLUSTERS:
        parts.append(cluster_points(kind, size, dims, rng))
        concepts.append((f"{kind}-{size}", np.arange(start, start + size)))
        start += size
    x = np.vstack(parts)
    order = rng.permutation(n)
    x = x[order]
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    concepts = [(name, np.sort(rank[members])) for name, members in concepts]
    return quantise(x), concepts, rng


def digits_set(seed):
    from sklearn.datasets import load_digits

    data = load_digits()
    x = (data.data * 15).astype(np.uint8)
    concepts = [(f"digit-{c}", np.where(data.target == c)[0]) for c in range(10)]
    return x, concepts, np.random.default_rng(seed)


def requests(x, concepts, rng, positives_range, negatives_range):
    n = len(x)
    out = []
    for name, members in concepts:
        member_set = set(members.tolist())
        positives = rng.choice(members, size=min(len(members), int(rng.integers(*positives_range))), replace=False)
        # Labelled negatives are look-alikes a user rejects: non-members nearest the
        # positives' mean.
        centre = x[positives].astype(np.float64).mean(axis=0)
        distance = ((x.astype(np.float64) - centre) ** 2).sum(axis=1)
        nearest = [int(i) for i in np.argsort(distance)[:400] if int(i) not in member_set]
        count = min(len(nearest), int(rng.integers(*negatives_range)))
        negatives = rng.choice(nearest, size=count, replace=False) if count else np.array([], dtype=np.int64)
        taken = set(positives.tolist()) | set(negatives.tolist())
        random_negatives = []
        while len(random_negatives) < min(RANDOM_NEGATIVES, n - len(taken)):
            i = int(rng.integers(0, n))
            if i not in taken:
                taken.add(i)
                random_negatives.append(i)
        out.append(
            {
                "name": name,
                "members": sorted(int(i) for i in members),
                "positives": sorted(int(i) for i in positives),
                "negatives": sorted(int(i) for i in negatives),
                "random_negatives": random_negatives,
            }
        )
    return out


def write(out, name, x, concepts, rng, positives_range, negatives_range):
    folder = Path(out) / name
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "features.npy", x)
    (folder / "subsets.json").write_text(json.dumps(subsets(x.shape[1], rng)))
    reqs = requests(x, concepts, rng, positives_range, negatives_range)
    (folder / "requests.json").write_text(json.dumps(reqs))
    print(f"{folder}: {x.shape[0]} x {x.shape[1]}, {len(reqs)} requests")


def main():
    out = sys.argv[1]
    large = "--large" in sys.argv
    x, concepts, rng = rare_set(100_000, 32, seed=11)
    write(out, "rare-100k", x, concepts, rng, (20, 61), (0, 21))
    if large:
        x, concepts, rng = rare_set(1_000_000, 32, seed=12)
        write(out, "rare-1m", x, concepts, rng, (20, 61), (0, 21))
    x, concepts, rng = digits_set(seed=13)
    write(out, "digits", x, concepts, rng, (20, 41), (0, 11))


if __name__ == "__main__":
    main()
