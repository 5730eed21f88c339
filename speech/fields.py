"""What extraction reports: the DESIGN.md contract, as typed data with a JSON round-trip."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any


@dataclass(frozen=True, slots=True)
class Budget:
    min: int  # CNY
    max: int


@dataclass(frozen=True, slots=True)
class Fields:
    budget: Budget | None = None
    tender_date: date | None = None
    competitors: tuple[str, ...] = ()
    concerns: tuple[str, ...] = ()
    titles: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "budget": None if self.budget is None else {"min": self.budget.min, "max": self.budget.max},
            "tender_date": None if self.tender_date is None else self.tender_date.isoformat(),
            "competitors": list(self.competitors),
            "concerns": list(self.concerns),
            "titles": list(self.titles),
            "keywords": list(self.keywords),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Fields:
        """From `to_json()`'s shape (a stored note, `leadbot extract --json`); a missing or mistyped key is empty."""
        budget = data.get("budget")
        tender = data.get("tender_date")
        return cls(
            budget=Budget(int(budget["min"]), int(budget["max"])) if isinstance(budget, Mapping) else None,
            tender_date=date.fromisoformat(tender) if isinstance(tender, str) else None,
            competitors=_strings(data.get("competitors")),
            concerns=_strings(data.get("concerns")),
            titles=_strings(data.get("titles")),
            keywords=_strings(data.get("keywords")),
        )


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(str(x) for x in value) if isinstance(value, list | tuple) else ()
