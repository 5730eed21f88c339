"""What extraction reports: the DESIGN.md contract, as typed data with a JSON round-trip, declared once.

Each attribute of `Fields` carries its `FieldSpec` (like a Django model field): how it reads in JSON, its label on
the voice card, whether a typed correction replaces it, whether the rep's 确认 copies it onto the lead (and into
which lead columns: the lead API, exports and the audit trail list those) and whether the accuracy score counts
it. `FIELDS` lists the specs in declaration order; the JSON round-trip, the voice card, corrections, the confirm
step and the scorer read it, so adding a field is its line here, its finder in `speech.extract`, and (when it lands
on the lead) the lead's column.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any


@dataclass(frozen=True, slots=True)
class Budget:
    min: int  # CNY
    max: int


class FieldKind(enum.StrEnum):
    """The shape of a field's value; JSON, cards and merging onto a lead go by the kind, not the field."""

    MONEY_RANGE = "money_range"  # Budget | None; JSON {"min": ..., "max": ...} | null
    DATE = "date"  # date | None; JSON "YYYY-MM-DD" | null
    TEXTS = "texts"  # tuple[str, ...]; JSON [...]; onto a lead: added to what is there


@dataclass(frozen=True, slots=True)
class FieldSpec:
    kind: FieldKind
    label: str  # on the voice card and in the rep's notices
    name: str = ""  # the attribute (and JSON key); filled in from `Fields`
    empty: str = "未提及"  # the card's text when nothing was heard
    correctable: bool = True  # a typed correction replaces it (and names it on the card)
    # The lead columns 确认 fills from it (a money range: its min and max); empty: it stays on the note.
    lead_columns: tuple[str, ...] = ()
    scored: bool = True  # counted by `speech.scoring` (the annotated fields of the reference texts)
    cues: tuple[str, ...] = ()  # words that make typed text a correction of this field ("预算 80万")
    board_label: str = ""  # its row on the managers' lead page; empty: not shown there

    @property
    def to_lead(self) -> bool:
        return bool(self.lead_columns)

    def to_json(self, value: Any) -> Any:
        if self.kind is FieldKind.MONEY_RANGE:
            return None if value is None else {"min": value.min, "max": value.max}
        if self.kind is FieldKind.DATE:
            return None if value is None else value.isoformat()
        return list(value)

    def from_json(self, value: Any) -> Any:
        """From `to_json`'s shape; a mistyped value is empty."""
        if self.kind is FieldKind.MONEY_RANGE:
            return Budget(int(value["min"]), int(value["max"])) if isinstance(value, Mapping) else None
        if self.kind is FieldKind.DATE:
            return date.fromisoformat(value) if isinstance(value, str) else None
        return tuple(str(x) for x in value) if isinstance(value, list | tuple) else ()


_SPEC = "spec"


def _field(kind: FieldKind, label: str, **spec: Any) -> Any:
    empty: Any = () if kind is FieldKind.TEXTS else None
    return dataclasses.field(default=empty, metadata={_SPEC: FieldSpec(kind, label, **spec)})


@dataclass(frozen=True, slots=True)
class Fields:
    budget: Budget | None = _field(FieldKind.MONEY_RANGE, "预算", lead_columns=("budget_min", "budget_max"),
                                   cues=("预算",), board_label="预算")
    tender_date: date | None = _field(FieldKind.DATE, "招标日期", lead_columns=("tender_date",),
                                      cues=("招标", "开标", "投标"), board_label="招标")
    competitors: tuple[str, ...] = _field(FieldKind.TEXTS, "竞品", lead_columns=("competitors",),
                                          cues=("竞品", "竞争", "对手"), board_label="竞品")
    concerns: tuple[str, ...] = _field(FieldKind.TEXTS, "关注点", cues=("关注", "顾虑", "担心"), board_label="关注点")
    titles: tuple[str, ...] = _field(FieldKind.TEXTS, "客户职务", cues=("职务", "职位", "联系人"), board_label="职务")
    keywords: tuple[str, ...] = _field(FieldKind.TEXTS, "关键词", empty="无", correctable=False, scored=False)

    def to_json(self) -> dict[str, Any]:
        return {spec.name: spec.to_json(getattr(self, spec.name)) for spec in FIELDS}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Fields:
        """From `to_json()`'s shape (a stored note, `leadbot extract --json`); a missing or mistyped key is empty."""
        return cls(**{spec.name: spec.from_json(data.get(spec.name)) for spec in FIELDS})


FIELDS: tuple[FieldSpec, ...] = tuple(
    dataclasses.replace(f.metadata[_SPEC], name=f.name) for f in dataclasses.fields(Fields)
)
# The lead's columns that extracted fields fill, in declaration order.
LEAD_COLUMNS: tuple[str, ...] = tuple(c for spec in FIELDS for c in spec.lead_columns)
