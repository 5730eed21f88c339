"""Regression guards on annotated summaries the rules were not tuned on (text only, fast).

- the held-out part of tests/fixtures/text/dev.jsonl (split.json, made by bench/textsplit.py before any tuning);
- tests/fixtures/text/paraphrases.jsonl, summaries written for this project before tuning began;
- tests/fixtures/text/fresh.jsonl, 109 summaries in the held-out style written for round two of issue #22 before
  any of its rule changes, scored in aggregate only;
- tests/fixtures/text/fresh2.jsonl, 61 more written for round three before any of its rule changes, likewise;
- tests/fixtures/text/fresh3.jsonl, 45 more written for round four and committed before any of its rule changes;
- tests/fixtures/text/fresh4.jsonl, 37 more written for round five and committed before any of its rule changes;
- tests/fixtures/text/fresh5.jsonl and fresh6.jsonl, 53 and 52 more written for rounds six and seven, likewise;
- tests/fixtures/text/fresh7.jsonl and fresh8.jsonl, 51 and 24 more written for round eight, likewise;
- tests/fixtures/text/fresh9.jsonl, 56 more written for round nine before any of its rule changes, and
  fresh10.jsonl, 28 written after them without looking at any misses, both committed before they were scored;
- the development part and tests/fixtures/text/tuning.jsonl, which the rules were tuned on, for completeness.

Each floor is the per-field F1 reached when the work on issue #22 was closed, less one summary's worth of slack: a
change that loses more than that on sentences nobody tuned for fails here. `bench/textcv.py` prints the scores.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from speech.extract import get_extractor
from speech.scoring import FIELDS, read_rows, score

TEXT = Path(__file__).resolve().parent.parent / "fixtures" / "text"

# reached (round two, 2026-12-07; budget / tender_date / competitors / concerns / titles): held_out 0.988 / 0.973 /
# 0.989 / 0.840 / 1.000, paraphrases 1.000 / 1.000 / 1.000 / 0.989 / 1.000, fresh 1.000 / 0.994 / 1.000 / 0.889 /
# 0.995 (0.781 for concerns before round two), development 1.000 everywhere, tuning 1.000 / 1.000 / 1.000 / 0.987 /
# 0.989. Round three (concerns): held_out 0.854, fresh 0.898, fresh2 0.915 as written -> 0.943 (budget 0.983,
# tender_date 1.000, competitors 0.982, titles 1.000), tuning (306 rows) 0.984. Round four (concerns): held_out
# 0.854 -> 0.843, fresh 0.898 -> 0.903, fresh2 0.943 -> 0.943, fresh3 0.929 as written -> 0.946 (budget 0.989,
# tender_date 1.000, competitors 0.968, titles 0.992), tuning (461 rows) 0.989; with the learned back-up
# (speech/learned.py): held_out 0.857, fresh 0.907, fresh2 0.952, fresh3 0.954, development 1.000, tuning 0.990.
# Round five: fresh4 as written budget 0.943, tender_date 0.979, competitors 0.968, concerns 0.894, titles 0.984 ->
# 0.971 / 0.979 / 0.968 / 0.896 / 1.000; concerns held_out 0.857, fresh 0.917, fresh2 0.968, fresh3 0.954; budget
# fresh2 0.983 -> 1.000; titles fresh3 0.992 -> 1.000; tuning (597 rows) concerns 0.991. Round six: fresh5 as
# written 0.981 / 0.977 / 1.000 / 0.953 / 0.992. Round seven: fresh6 as written 0.970 / 0.977 / 1.000 / 0.929 / 0.976
# -> 0.990 / 0.977 / 1.000 / 0.940 / 0.976; concerns held_out 0.884 -> 0.909, fresh 0.922 -> 0.926, fresh3 0.962 ->
# 0.969, fresh4 0.884 -> 0.898, fresh5 0.953; tuning (809 rows) concerns 0.992. Round eight: fresh7 as written 1.000 /
# 0.958 / 1.000 / 0.852 / 1.000 -> concerns 0.862; fresh8 as written 1.000 / 1.000 / 1.000 / 0.816 / 1.000, unchanged;
# every other set unchanged; tuning (829 rows) concerns 0.992. Round nine: fresh9 as written 1.000 / 0.981 / 0.978 /
# 0.874 / 0.992 -> concerns 0.880; fresh8 concerns 0.816 -> 0.840 (floor 0.77 -> 0.79); fresh10, written after the
# round's changes, as written 1.000 / 1.000 / 0.941 / 0.831 / 1.000; every other set unchanged; tuning (952 rows)
# concerns 0.989. Round ten (the learned back-up retrained with a weight on missed labels, round ten's batch
# u953-u1261 added to its training, no rule changed): concerns held_out 0.909 -> 0.921 (floor 0.82 -> 0.89), fresh
# 0.930 -> 0.944 (0.88 -> 0.92), fresh3 0.969 -> 0.970, fresh5 0.953 -> 0.966 (0.93 -> 0.94), fresh7 0.862 -> 0.883
# (0.83 -> 0.85), fresh8 0.840 -> 0.863 (0.79 -> 0.81), fresh10 0.831 -> 0.864 (0.78 -> 0.81), every other set and
# field unchanged. The tuning floor for concerns is lowered 0.97 -> 0.94: the 309 new sentences were written to
# widen the model's training, in words chosen to be new to the rules, and were not tuned on (rules alone 0.848 on
# them, with the model 0.861); the 952 earlier rows stay at 0.988 and the whole part is 0.965
FLOORS = {
    "held_out": {"budget": 0.96, "tender_date": 0.94, "competitors": 0.97, "concerns": 0.89, "titles": 0.97},
    "paraphrases": {"budget": 0.97, "tender_date": 0.97, "competitors": 0.97, "concerns": 0.96, "titles": 0.97},
    "fresh": {"budget": 0.99, "tender_date": 0.98, "competitors": 0.99, "concerns": 0.92, "titles": 0.98},
    "fresh2": {"budget": 0.96, "tender_date": 0.97, "competitors": 0.96, "concerns": 0.92, "titles": 0.97},
    "fresh3": {"budget": 0.96, "tender_date": 0.97, "competitors": 0.94, "concerns": 0.92, "titles": 0.97},
    "fresh4": {"budget": 0.94, "tender_date": 0.95, "competitors": 0.94, "concerns": 0.87, "titles": 0.97},
    "fresh5": {"budget": 0.96, "tender_date": 0.95, "competitors": 0.98, "concerns": 0.94, "titles": 0.97},
    "fresh6": {"budget": 0.97, "tender_date": 0.95, "competitors": 0.98, "concerns": 0.91, "titles": 0.95},
    "fresh7": {"budget": 0.97, "tender_date": 0.93, "competitors": 0.97, "concerns": 0.85, "titles": 0.97},
    "fresh8": {"budget": 0.95, "tender_date": 0.95, "competitors": 0.95, "concerns": 0.81, "titles": 0.95},
    "fresh9": {"budget": 0.97, "tender_date": 0.95, "competitors": 0.95, "concerns": 0.84, "titles": 0.97},
    "fresh10": {"budget": 0.95, "tender_date": 0.95, "competitors": 0.90, "concerns": 0.81, "titles": 0.95},
    "development": {"budget": 0.98, "tender_date": 0.98, "competitors": 0.98, "concerns": 0.98, "titles": 0.98},
    "tuning": {"budget": 0.99, "tender_date": 0.99, "competitors": 0.99, "concerns": 0.94, "titles": 0.97},
}


def _rows(part: str) -> list[dict]:
    if part in ("paraphrases", "tuning") or part.startswith("fresh"):
        return read_rows(TEXT / f"{part}.jsonl")
    by_id = {row["id"]: row for row in read_rows(TEXT / "dev.jsonl")}
    split = json.loads((TEXT / "split.json").read_text("utf-8"))
    return [by_id[i] for i in split[part]]


def test_the_split_is_the_committed_one() -> None:
    split = json.loads((TEXT / "split.json").read_text("utf-8"))
    assert len(split["development"]) == 100 and len(split["held_out"]) == 50
    assert not set(split["development"]) & set(split["held_out"])
    assert set(split["folds"]) == set(split["development"])


@pytest.mark.parametrize("part", list(FLOORS))
def test_field_f1_stays_above_its_floor(part: str) -> None:
    extractor = get_extractor()
    scores = score(lambda text, ref: extractor.extract(text, ref).to_json(), _rows(part))
    got = {name: round(scores.f1(name), 3) for name in FIELDS}
    below = {name: (got[name], floor) for name, floor in FLOORS[part].items() if got[name] < floor}
    assert not below, f"{part}: F1 below its floor (got, floor): {below}"
