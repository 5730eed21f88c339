"""Does the shipped n-gram back-up (`speech.learned`) still earn its place after a round of rule changes?

Concern F1 and summaries wrong per scored set, three ways:
  rules       the rules alone (Extractor(learned=None))
  shipped     rules + the shipped model (speech/data/concern_model.json: built from tuning.jsonl and the
              development part, so every scored set is unseen by it)
  loso        rules + an n-gram model trained, for each scored set, on everything else (tuning, development,
              paraphrases and the other scored sets) and scored on the set left out
The threshold and the positive-label weight are the shipped ones (`speech.learned`). The same comparison as
`bench/concern_embed.py` without its embedding model, so it needs no speech model and runs in about three minutes on
two loaded cores.

Measured (round nine, 2026-12-08, rules and the shipped model of branch extract9; summaries wrong over held_out
and fresh..fresh10): rules 118, shipped 106, loso 110; the shipped model is ahead of the rules alone on seven
sets (fresh10, written after the round's changes: 0.831 vs 0.800), level on three, behind on fresh4 (0.898 vs 0.903
F1, though 11 summaries wrong against 12). A model rebuilt after the round's last rule changes (952 tuning rows)
lowered fresh4 to 0.889 on its own and was not shipped.
Round ten (2026-12-08, branch extract10, load average 1.5-1.1; no rule changed): with a weight of 3 on missed labels,
threshold 0.5 and round ten's batch (u953-u1261) in training, rules 118, shipped 94, loso 100 (main: 106 and 110);
per set, shipped / loso wrong: held_out 5 / 6 (main 6 / 7), fresh 13 / 14 (16 / 16), fresh2 4 / 4, fresh3 4 / 4,
fresh4 11 / 11 (11 / 12), fresh5 6 / 8 (8 / 8), fresh6 10 / 10 (10 / 11), fresh7 12 / 13 (14 / 15), fresh8 6 / 6
(7 / 7), fresh9 16 / 16, fresh10 7 / 8 (10 / 10): no set worse. Settings compared in `bench/concern_settings.py`.

Run: python bench/concern_loso.py [--only SET...]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.concern_embed import adder, f1, prepare, rule_labeller, train_sparse  # noqa: E402
from bench.textcv import parts  # noqa: E402
from speech.learned import THRESHOLD, ConcernModel, default_model, training_windows  # noqa: E402

SCORED = ("held_out", "fresh", "fresh2", "fresh3", "fresh4", "fresh5", "fresh6", "fresh7", "fresh8", "fresh9",
          "fresh10")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", default=list(SCORED), help="the scored sets to score")
    args = parser.parse_args()
    data = parts()
    training = data["tuning"] + data["development"]
    every = {name: data[name] for name in (*SCORED, "paraphrases")}
    prepared = {r["id"]: p for rows in [training, *every.values()] for r, p in zip(rows, prepare(rows))}
    label_of = rule_labeller()
    shipped = default_model()
    wrong = [0, 0, 0]
    print(f"{'set':10} {'rules':>12} {'shipped':>12} {'loso':>12}   (F1, summaries wrong)")
    for name in args.only:
        test = [prepared[r["id"]] for r in every[name]]
        rest = training + [r for other, rows in every.items() if other != name for r in rows]
        model = ConcernModel.from_json(train_sparse(training_windows(rest, label_of)))
        cells = [f1(test), f1(test, adder(shipped, THRESHOLD)), f1(test, adder(model, THRESHOLD))]
        wrong = [total + w for total, (_, w) in zip(wrong, cells)]
        print(f"{name:10} " + " ".join(f"{v:.3f} ({w:2d})".rjust(12) for v, w in cells), flush=True)
    print(f"summaries wrong: rules {wrong[0]}, shipped {wrong[1]}, loso {wrong[2]}")


if __name__ == "__main__":
    main()
