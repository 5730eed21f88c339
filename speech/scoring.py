"""Field F1 of an extractor against annotated summaries (`expect` as in the fixtures' jsonl files).

For each summary and field the prediction and the truth are sets: budget {(min, max)} or {}, tender_date {date}
or {}, competitors / concerns / titles the set of names. Summed over summaries: TP = |pred & truth|,
FP = |pred - truth|, FN = |truth - pred|; F1 = 2TP / (2TP + FP + FN), and 1.0 when the field is empty in both
everywhere. A wrong budget counts as one FP and one FN. `micro` pools the counts of the five fields.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

FIELDS = ("budget", "tender_date", "competitors", "concerns", "titles")


@dataclass
class Scores:
    counts: dict[str, list[int]] = field(default_factory=lambda: {name: [0, 0, 0] for name in FIELDS})
    misses: list[str] = field(default_factory=list)

    def add(self, row_id: str, got: Mapping[str, Any], expect: Mapping[str, Any]) -> None:
        for name in FIELDS:
            pred, truth = items(name, got[name]), items(name, expect[name])
            tp_fp_fn = (len(pred & truth), len(pred - truth), len(truth - pred))
            self.counts[name] = [a + b for a, b in zip(self.counts[name], tp_fp_fn)]
            if pred != truth:
                self.misses.append(f"{row_id}.{name}: got {sorted(pred)} want {sorted(truth)}")

    def f1(self, name: str) -> float:
        return f1(*self.counts[name])

    @property
    def micro(self) -> float:
        return f1(*(sum(self.counts[name][i] for name in FIELDS) for i in range(3)))

    def line(self) -> str:
        return "  ".join(f"{name} {self.f1(name):.3f}" for name in FIELDS) + f"  micro {self.micro:.3f}"


def items(name: str, value: Any) -> set:
    if value is None:
        return set()
    if name == "budget":
        return {(value["min"], value["max"])}
    if name == "tender_date":
        return {value}
    return set(value)


def f1(tp: int, fp: int, fn: int) -> float:
    return 1.0 if tp + fp + fn == 0 else 2 * tp / (2 * tp + fp + fn)


def score(extract: Callable[[str, datetime], Mapping[str, Any]], rows: Iterable[Mapping[str, Any]],
          texts: Mapping[str, str] | None = None) -> Scores:
    """Scores of `extract(text, ref) -> to_json()` on `rows`; `texts` replaces a row's text (a transcript)."""
    scores = Scores()
    for row in rows:
        text = row["text"] if texts is None else texts[row["id"]]
        scores.add(row["id"], extract(text, datetime.fromisoformat(row["ref"])), row["expect"])
    return scores


def read_rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]
