"""Runs a peer detector over the shared histories under the shared protocol.

    python peers.py otava|edivisive HISTORIES.jsonl ALERTS.jsonl [--unit sample|commit]

ALERTS.jsonl is also the cache: histories already in it (same samples, noise and id) are
skipped and new lines are appended, so an interrupted run resumes where it stopped and a
finished one costs nothing to re-run. Delete the file to recompute.

Detection runs after every commit on the history so far, as CI would. Each change point the
peer reports that is a regression (the mean after is more than 10% above the mean before: the
metric is a latency) names the commit of its first point. With several samples per commit the
peer sees either every sample (`--unit sample`, a change point then names the commit of the
sample it falls on) or one mean per commit (`--unit commit`).

Peers and settings:
- otava: Apache Otava 0.8.0, `otava.analysis.compute_change_points(series, window_len=50,
  max_pvalue=0.001, min_magnitude=0.1)`, its defaults but the 10% minimum magnitude.
- edivisive: MongoDB signal-processing-algorithms 2.1.6, `e_divisive(series, pvalue=0.05,
  permutations=100)` (its defaults), numpy's generator seeded per history.
"""
import json
import sys
import time

THRESHOLD = 0.10  # the latency threshold every detector applies


def otava_change_points(series):
    from otava.analysis import compute_change_points

    cps, _ = compute_change_points(series, window_len=50, max_pvalue=0.001, min_magnitude=THRESHOLD)
    return [cp.index for cp in cps]


def edivisive_change_points(series):
    from signal_processing_algorithms.energy_statistics.energy_statistics import e_divisive

    return sorted(int(i) for i in e_divisive(series, pvalue=0.05, permutations=100))


def regressions(series, cps):
    """Change points whose segment after is more than THRESHOLD above the segment before."""
    out = []
    bounds = [0] + list(cps) + [len(series)]
    for k, cp in enumerate(cps):
        before = series[bounds[k]:cp]
        after = series[cp:bounds[k + 2]]
        if not before or not after:
            continue
        mb = sum(before) / len(before)
        ma = sum(after) / len(after)
        if mb > 0 and ma / mb - 1.0 > THRESHOLD:
            out.append(cp)
    return out


def main():
    args = sys.argv[1:]
    unit = "sample"
    if "--unit" in args:
        i = args.index("--unit")
        unit = args[i + 1]
        del args[i:i + 2]
    detector, histories, out = args
    find = {"otava": otava_change_points, "edivisive": edivisive_change_points}[detector]
    import numpy as np

    done, kept = set(), []
    try:
        with open(out) as f:
            for line in f:
                try:
                    r = json.loads(line)
                except ValueError:
                    continue  # a line cut short by an interruption: recompute it
                done.add((r["samples"], r["noise"], r["id"]))
                kept.append(line if line.endswith("\n") else line + "\n")
        with open(out, "w") as w:
            w.writelines(kept)
    except FileNotFoundError:
        pass
    with open(histories) as f, open(out, "a") as w:
        for line in f:
            h = json.loads(line)
            if (h["samples"], h["noise"], h["id"]) in done:
                continue
            np.random.seed(h["id"] * 7919 + h["samples"] * 104729 + int(h["noise"] * 1000))
            commits = h["commits"]
            alerts = []
            t = time.perf_counter()
            for c in range(1, len(commits)):
                if unit == "commit":
                    series = [sum(v) / len(v) for v in commits[: c + 1]]
                    commit_of = list(range(c + 1))
                else:
                    series = [x for v in commits[: c + 1] for x in v]
                    commit_of = [k for k, v in enumerate(commits[: c + 1]) for _ in v]
                for cp in regressions(series, find(series)):
                    alerts.append([c, commit_of[cp]])
            seconds = time.perf_counter() - t
            w.write(json.dumps({"samples": h["samples"], "noise": h["noise"], "id": h["id"],
                                "alerts": alerts, "seconds": seconds}) + "\n")
            w.flush()


if __name__ == "__main__":
    main()
