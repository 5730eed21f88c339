"""Field F1 of the extractor on the text fixtures, the way tuning is meant to use them.

Run: python bench/textcv.py [--validate K] [--misses]   development part, per fold (split.json's `folds`);
                                                        misses listed for every fold but K (the one held back)
     python bench/textcv.py --part held_out             the held-out part: scores only, no misses
     python bench/textcv.py --part paraphrases          paraphrases.jsonl: scores only, no misses

Cross-validation for rules: change rules looking at the misses of the other folds, then see whether fold K
moved the same way; rotate K. The held-out part and the paraphrases are scored without their misses so that
nothing is tuned to them.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from speech.extract import get_extractor
from speech.scoring import Scores, read_rows, score

TEXT = ROOT / "tests" / "fixtures" / "text"


def parts() -> dict[str, list[dict]]:
    rows = {row["id"]: row for row in read_rows(TEXT / "dev.jsonl")}
    split = json.loads((TEXT / "split.json").read_text("utf-8"))
    return {
        "development": [rows[i] for i in split["development"]],
        "held_out": [rows[i] for i in split["held_out"]],
        "paraphrases": read_rows(TEXT / "paraphrases.jsonl"),
        "folds": split["folds"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("development", "held_out", "paraphrases"), default="development")
    parser.add_argument("--validate", type=int, default=None, help="the fold whose misses are not shown")
    parser.add_argument("--misses", action="store_true", help="list misses (development part only)")
    args = parser.parse_args()
    data = parts()
    extractor = get_extractor()

    def run(rows: list[dict]) -> Scores:
        return score(lambda text, ref: extractor.extract(text, ref).to_json(), rows)

    rows = data[args.part]
    print(f"{args.part} ({len(rows)}): {run(rows).line()}")
    if args.part != "development":
        return
    folds = data["folds"]
    for k in sorted(set(folds.values())):
        fold_rows = [row for row in rows if folds[row["id"]] == k]
        scores = run(fold_rows)
        print(f"  fold {k} ({len(fold_rows)}): {scores.line()}")
        if args.misses and k != args.validate:
            for miss in scores.misses:
                print(f"     miss {miss}")


if __name__ == "__main__":
    main()
