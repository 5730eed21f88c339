"""Field F1 of an extractor against annotated summaries (`expect` as in the fixtures' jsonl files), and CER.

For each summary and field the prediction and the truth are sets: budget {(min, max)} or {}, tender_date {date}
or {}, competitors / concerns / titles the set of names. Summed over summaries: TP = |pred & truth|,
FP = |pred - truth|, FN = |truth - pred|; F1 = 2TP / (2TP + FP + FN), and 1.0 when the field is empty in both
everywhere. A wrong budget counts as one FP and one FN. `micro` pools the counts of the five fields.

CER is character edit distance / reference length, both sides normalised first: punctuation and spaces removed,
Traditional folded to Simplified, Arabic numbers spelled as Chinese numerals (50 -> 五十), 两 -> 二.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from speech import fields
from speech.chinese import to_simplified

FIELDS = tuple(spec.name for spec in fields.FIELDS if spec.scored)
_KINDS = {spec.name: spec.kind for spec in fields.FIELDS}
_DIGITS = "零一二三四五六七八九"


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
    if _KINDS[name] is fields.FieldKind.MONEY_RANGE:
        return {(value["min"], value["max"])}
    if _KINDS[name] is fields.FieldKind.DATE:
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


def cer_counts(reference: str, hypothesis: str) -> tuple[int, int]:
    """(edit distance, reference length) of the normalised texts; CER is their ratio, summed over clips."""
    ref, hyp = normalize_for_cer(reference), normalize_for_cer(hypothesis)
    return edit_distance(ref, hyp), len(ref)


def normalize_for_cer(text: str) -> str:
    text = to_simplified(text)
    text = re.sub(r"\d+(?:\.\d+)?", lambda m: _spell(m.group()), text)
    return re.sub(r"[\W_]", "", text).replace("两", "二")


def edit_distance(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def _spell(number: str) -> str:
    """An Arabic number as Chinese numerals, the way the reference transcripts write it."""
    if "." in number:
        whole, frac = number.split(".", 1)
        return _spell(whole) + "点" + "".join(_DIGITS[int(d)] for d in frac)
    n = int(number)
    if n == 0:
        return "零"
    if n >= 10_000:
        high, low = divmod(n, 10_000)
        return _spell(str(high)) + "万" + (("零" if low < 1000 else "") + _spell(str(low)) if low else "")
    out, pending_zero = "", False
    for scale, unit in ((1000, "千"), (100, "百"), (10, "十"), (1, "")):
        digit, n = divmod(n, scale)
        if digit:
            if pending_zero:
                out += "零"
            out += ("" if (scale == 10 and digit == 1 and not out) else _DIGITS[digit]) + unit
            pending_zero = False
        elif out:
            pending_zero = True
    return out
