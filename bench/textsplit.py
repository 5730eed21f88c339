"""The fixed split of `tests/fixtures/text/dev.jsonl` into a development part and a held-out part, with folds.

Run: python bench/textsplit.py   (rewrites tests/fixtures/text/split.json; the same input gives the same file)

The held-out part is scored once, at the end of a piece of tuning work; tuning happens on the development part
with k-fold cross-validation (`folds`). Both parts are stratified on the phenomena of ANNOTATION.md, tagged
here from each row's text and labels, so that every phenomenon shows up in both: multi-label iterative
stratification (Sechidis et al. 2011): rows are placed rarest tag first, each into the part that still lacks
that tag most, ties broken by the part's remaining room and then by a seeded shuffle.
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEXT = ROOT / "tests" / "fixtures" / "text"
SEED = 20260522
HELD_OUT_SHARE = 1 / 3
FOLDS = 5

# Surface signs of each phenomenon; they only steer the split, they are never used to extract.
_SIGNS = {
    "budget_cap": "上限|控制价|最高限价|限价|封顶|以内|不到|顶多|最多|不超过",
    "budget_approx": "左右|出头|来万|多万|上下|大概|大约|将近|差不多",
    "self_correction": "不对|说错|更正|口误|改成|改到|后来又|搞错",
    "money_decoy": "报价|去年|流标|废标|保证金|尾款|首付|罚|损失|原来|申报|报了|之前",
    "date_decoy": "签|演示|拜访|上线|交付|验收|付款|到货|答疑|过来|考察|定下来",
    "competitor_out": "没来|不投|没报名|没参与|不做|不考虑|合作|联合|一起投|换掉|替换|原厂|总包",
    "concern_ruled_out": "不是问题|倒不|倒没|没意见|不担心|无所谓|好说|没提|好商量|不是最",
    "own_side": "我们|咱们|我方",
}


def tags(row: dict) -> set[str]:
    text, expect = row["text"], row["expect"]
    found = {name for name, pattern in _SIGNS.items() if re.search(pattern, text)}
    budget = expect["budget"]
    found.add("budget_none" if budget is None else "budget_range" if budget["min"] != budget["max"] else "budget_one")
    found.add("tender_none" if expect["tender_date"] is None else "tender_date")
    found.add("competitors" if expect["competitors"] else "competitors_none")
    found.add("titles" if expect["titles"] else "titles_none")
    found.update(f"concern:{label}" for label in expect["concerns"])
    if not expect["concerns"]:
        found.add("concerns_none")
    return found


def stratify(rows: list[dict], shares: list[float], rng: random.Random) -> list[int]:
    """The part of each row (an index into `shares`), stratified on `tags`."""
    labels = {row["id"]: tags(row) for row in rows}
    totals = Counter(tag for found in labels.values() for tag in found)
    want = [{tag: n * share for tag, n in totals.items()} for share in shares]
    room = [len(rows) * share for share in shares]
    order = list(rows)
    rng.shuffle(order)
    part_of: dict[str, int] = {}
    while order:
        rarest = min((tag for row in order for tag in labels[row["id"]]),
                     key=lambda tag: (sum(tag in labels[row["id"]] for row in order), tag))
        for row in [row for row in order if rarest in labels[row["id"]]]:
            part = max(range(len(shares)), key=lambda p: (want[p][rarest], room[p], -p))
            part_of[row["id"]] = part
            room[part] -= 1
            for tag in labels[row["id"]]:
                want[part][tag] -= 1
            order.remove(row)
    return [part_of[row["id"]] for row in rows]


def main() -> None:
    rows = [json.loads(line) for line in (TEXT / "dev.jsonl").read_text("utf-8").splitlines() if line]
    rng = random.Random(SEED)
    parts = stratify(rows, [1 - HELD_OUT_SHARE, HELD_OUT_SHARE], rng)
    development = [row for row, part in zip(rows, parts) if part == 0]
    held_out = [row["id"] for row, part in zip(rows, parts) if part == 1]
    folds = stratify(development, [1 / FOLDS] * FOLDS, rng)
    split = {
        "source": "dev.jsonl",
        "seed": SEED,
        "made_by": "bench/textsplit.py",
        "development": [row["id"] for row in development],
        "held_out": held_out,
        "folds": {row["id"]: fold for row, fold in zip(development, folds)},
    }
    (TEXT / "split.json").write_text(json.dumps(split, ensure_ascii=False, indent=1) + "\n", "utf-8")
    by_part = [Counter(), Counter()]
    for row, part in zip(rows, parts):
        by_part[part].update(tags(row))
    print(f"development {len(development)}, held out {len(held_out)}, {FOLDS} folds "
          f"of {sorted(Counter(folds).values())}")
    for tag in sorted(by_part[0] | by_part[1]):
        print(f"  {tag:22} {by_part[0][tag]:3} / {by_part[1][tag]:3}")


if __name__ == "__main__":
    main()
