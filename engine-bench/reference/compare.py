"""Joins run_reference.py's and the side_by_side example's JSON lines into one markdown
table: per request and searcher, F1 / precision / result count / train ms of both (means
over the seeds run), and the F1 difference (ours - reference) with its standard error
(from the spread over seeds). Ends with the requests where ours trails by more than 0.02,
and which of those trail by more than 0.02 beyond twice the standard error.

Usage: python compare.py reference.jsonl ours.jsonl
"""

import json
import sys


def load(path):
    runs = {}
    for line in open(path):
        r = json.loads(line)
        runs.setdefault((r["set"], r["request"], r["searcher"]), []).append(r)
    out = {}
    for key, rs in runs.items():
        means = {field: sum(r[field] for r in rs) / len(rs) for field in ("f1", "precision", "count", "in_boxes", "train_ms")}
        spread = sum((r["f1"] - means["f1"]) ** 2 for r in rs) / max(len(rs) - 1, 1)
        means["f1_var_of_mean"] = spread / len(rs)
        out[key] = means
    return out


def main():
    reference, ours = load(sys.argv[1]), load(sys.argv[2])
    print("| set | request | searcher | F1 ref | F1 ours | diff (± s.e.) | precision ref / ours | count ref / ours | in boxes ref / ours | train ms ref / ours |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    behind = []
    for key in sorted(reference.keys() & ours.keys()):
        r, o = reference[key], ours[key]
        diff = o["f1"] - r["f1"]
        error = (r["f1_var_of_mean"] + o["f1_var_of_mean"]) ** 0.5
        if diff < -0.02:
            behind.append((key, diff, error))
        print(
            f"| {key[0]} | {key[1]} | {key[2]} | {r['f1']:.3f} | {o['f1']:.3f} | {diff:+.3f} ± {error:.3f} | "
            f"{r['precision']:.2f} / {o['precision']:.2f} | {r['count']:.0f} / {o['count']:.0f} | "
            f"{r['in_boxes']:.0f} / {o['in_boxes']:.0f} | "
            f"{r['train_ms']:.0f} / {o['train_ms']:.1f} |"
        )
    for searcher in sorted({k[2] for k in reference.keys() & ours.keys()}):
        keys = [k for k in reference.keys() & ours.keys() if k[2] == searcher]
        mean = lambda rows: sum(rows[k]["f1"] for k in keys) / len(keys)
        print(f"\n{searcher}: mean F1 reference {mean(reference):.3f}, ours {mean(ours):.3f} over {len(keys)} requests")
    print(f"\nbehind by more than 0.02: {len(behind)}")
    for key, diff, error in behind:
        print(f"- {' / '.join(key)}: {diff:+.3f} ± {error:.3f}")
    beyond_noise = [(key, diff) for key, diff, error in behind if diff + 2 * error < -0.02]
    print(f"behind by more than 0.02 beyond twice the standard error: {len(beyond_noise)}")
    for key, diff in beyond_noise:
        print(f"- {' / '.join(key)}: {diff:+.3f}")


if __name__ == "__main__":
    main()
