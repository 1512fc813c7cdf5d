"""Scores every detector's alerts on the shared histories and prints the tables.

    python score.py [--common] HISTORIES.jsonl NAME=ALERTS.jsonl [NAME=ALERTS.jsonl ...]

Each detector is scored on the histories its alerts file holds; with --common, every detector
on the histories all of them hold (a paired comparison when a peer's run covers a subset).
The last lines list the cells where the first detector's precision or recall is below the best
of the others (a detector named "spec" is left out of that comparison).

The counting rule (the same as `northstar_cartridge::evaluate::score`): every distinct commit
an alert names counts once; naming the shift commit or one of the 5 after it detects the shift;
any other named commit is a false alarm (in a flat history, or a misplaced change point in a
shifted one). Precision = detected / (detected + false alarms); recall = detected / shifts;
delay = commits between the shift and the first evaluation whose alert detects it.
"""
import json
import statistics
import sys

TOLERANCE = 5


def load(path):
    with open(path) as f:
        return {(r["samples"], r["noise"], r["id"]): r for r in map(json.loads, f)}


def score(histories, alerts):
    cells = {}
    for key, h in histories.items():
        if key not in alerts:
            continue
        cell = cells.setdefault(key[:2], {"shifts": 0, "detected": 0, "false": 0, "flat": 0,
                                          "delays": [], "seconds": 0.0, "histories": 0})
        a = alerts[key]
        cell["seconds"] += a["seconds"]
        cell["histories"] += 1
        named = {n for _, n in a["alerts"]}
        s = h["shift_at"]
        if s is None:
            cell["false"] += len(named)
            cell["flat"] += len(named)
            continue
        cell["shifts"] += 1
        window = range(s, s + TOLERANCE + 1)
        first = next((at for at, n in a["alerts"] if n in window), None)
        if first is not None:
            cell["detected"] += 1
            cell["delays"].append(first - s)
        cell["false"] += sum(1 for n in named if n not in window)
    for c in cells.values():
        flagged = c["detected"] + c["false"]
        c["precision"] = c["detected"] / flagged if flagged else 1.0
        c["recall"] = c["detected"] / c["shifts"] if c["shifts"] else 1.0
        c["delay"] = statistics.median(c["delays"]) if c["delays"] else float("nan")
    return cells


def main():
    args = sys.argv[1:]
    common = "--common" in args
    args = [a for a in args if a != "--common"]
    histories = load(args[0])
    names, outputs, scores = [], {}, {}
    for arg in args[1:]:
        name, path = arg.split("=", 1)
        names.append(name)
        outputs[name] = load(path)
    if common:
        keep = set(histories)
        for a in outputs.values():
            keep &= set(a)
        histories = {k: h for k, h in histories.items() if k in keep}
    for name in names:
        scores[name] = score(histories, outputs[name])
    for samples in sorted({k[0] for k in histories}):
        levels = sorted({k[1] for k in histories if k[0] == samples})
        if common:
            counts = [sum(1 for k in histories if k[:2] == (samples, n)) for n in levels]
            print(f"\n(histories per noise level, common to all: {counts})")
        print(f"\n### {samples} sample{'s' if samples > 1 else ''} per commit\n")
        print("precision / recall (median detection delay in commits)\n")
        print("| detector | " + " | ".join(f"{n * 100:.0f}% noise" for n in levels) + " | time per history |")
        print("|---|" + "---|" * (len(levels) + 1))
        for name in names:
            cells = [scores[name].get((samples, n)) for n in levels]
            row = [f"{c['precision']:.2f} / {c['recall']:.2f} ({c['delay']:g})" if c else "-" for c in cells]
            done = [c for c in cells if c]
            per = sum(c["seconds"] for c in done) / max(1, sum(c["histories"] for c in done))
            print(f"| {name} | " + " | ".join(row) + f" | {per * 1000:.2f} ms |")
        print("\nCounts: detected / shifts, false alarms (of which in flat histories)\n")
        print("| detector | " + " | ".join(f"{n * 100:.0f}%" for n in levels) + " |")
        print("|---|" + "---|" * len(levels))
        for name in names:
            cells = [scores[name].get((samples, n)) for n in levels]
            row = [f"{c['detected']}/{c['shifts']}, {c['false']} ({c['flat']})" if c else "-" for c in cells]
            print(f"| {name} | " + " | ".join(row) + " |")
    print()
    # Cells where the first detector is not at least the best of the others.
    if len(names) > 1:
        first, rest = names[0], [n for n in names[1:] if n != "spec"]
        behind = []
        for key, c in sorted(scores[first].items()):
            for what in ("precision", "recall"):
                best = max((scores[r][key][what] for r in rest if key in scores[r]), default=None)
                if best is not None and c[what] + 1e-9 < best:
                    behind.append(f"{key[0]} sample(s), {key[1] * 100:.0f}% noise: {what} "
                                  f"{c[what]:.2f} < {best:.2f}")
        print("Cells where " + first + " is behind: " + ("none" if not behind else ""))
        for b in behind:
            print(f"- {b}")


if __name__ == "__main__":
    main()
