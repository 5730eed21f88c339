"""What extraction reports: the DESIGN.md contract, as typed data with a JSON round-trip."""

from __future__ import annotations

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
    def from_json(cls, data: dict[str, Any]) -> Fields:
        budget = data.get("budget")
        tender = data.get("tender_date")
        return cls(
            budget=None if budget is None else Budget(int(budget["min"]), int(budget["max"])),
            tender_date=None if tender is None else date.fromisoformat(tender),
            competitors=tuple(data.get("competitors", ())),
            concerns=tuple(data.get("concerns", ())),
            titles=tuple(data.get("titles", ())),
            keywords=tuple(data.get("keywords", ())),
        )
