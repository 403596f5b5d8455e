"""The best F1 any classifier could reach on a built dataset's features, per concept: an
upper bound for the feedback loop's (issue "the loop finds what is typed").

For every colour+shape concept of a synthetic collection (ground truth from `scenes.csv`,
as `precompute eval` takes it), a logistic regression and a 15-nearest-neighbour vote are
trained on the ground truth of every image and scored by 5-fold cross-validation. The
loop labels a few pages; this uses all the labels there are, so the loop cannot beat it
with these features. Needs scikit-learn (kept out of CI):

    precompute synth --out /tmp/d20/scenes --count 20000 --size 64 --seed 1
    precompute build --input /tmp/d20/scenes/captions.csv --model demo/model \
        --head demo/model/head.safetensors --out /tmp/d20/shapes --name shapes
    python demo/oracle.py /tmp/d20/shapes/.work/extract/features.npy /tmp/d20/scenes/scenes.csv
"""

import csv
import sys

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.model_selection import cross_val_predict
from sklearn.neighbors import KNeighborsClassifier


def main() -> None:
    features = np.load(sys.argv[1])
    scenes = list(csv.DictReader(open(sys.argv[2])))
    assert len(features) == len(scenes), (features.shape, len(scenes))
    results = []
    for shape in sorted({s["shape"] for s in scenes}):
        for colour in sorted({s["colour"] for s in scenes}):
            members = np.array([s["shape"] == shape and s["colour"] == colour for s in scenes])
            linear = cross_val_predict(
                LogisticRegression(C=10, max_iter=2000, class_weight="balanced"), features, members, cv=5)
            neighbours = cross_val_predict(KNeighborsClassifier(15), features, members, cv=5)
            results.append((f1_score(members, linear), f1_score(members, neighbours), f"{colour} {shape}s"))
    linear = [r[0] for r in results]
    neighbours = [r[1] for r in results]
    print(f"{features.shape[0]} images x {features.shape[1]} dims, {len(results)} colour+shape concepts")
    print(f"logistic regression F1: median {np.median(linear):.3f}, worst {min(linear):.3f}")
    print(f"15-NN vote F1: median {np.median(neighbours):.3f}, worst {min(neighbours):.3f}")
    for row in sorted(results)[:3]:
        print("  hardest: %.3f / %.3f %s" % row)


if __name__ == "__main__":
    main()
