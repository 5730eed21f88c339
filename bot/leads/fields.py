"""The lead's side of the extracted fields (`speech.fields.FIELDS`): the columns a confirmed voice note fills, how
each kind is kept in the lead row, the snapshot and the lead API, and how new values merge onto what is there.

A money range is two integer columns (its min and max), a date one date column, names one JSON list column. The
lead row, `bot.leads.types.Lead`, `bot.leads.schemas.LeadOut`, the export's columns and the audit trail each name
these columns (tests check they all do).
"""

from __future__ import annotations

from typing import Any

from speech.fields import FIELDS, LEAD_COLUMNS, FieldKind

TO_LEAD = tuple(spec for spec in FIELDS if spec.to_lead)
# Columns holding a list of names: stored as a JSON list (possibly NULL in old rows), a tuple on the snapshot.
_LISTS = frozenset(c for spec in TO_LEAD if spec.kind is FieldKind.TEXTS for c in spec.lead_columns)

__all__ = ["LEAD_COLUMNS", "TO_LEAD", "changes_from", "column_values", "out_values", "snapshot_values"]


def snapshot_values(row: Any) -> dict[str, Any]:
    """The `Lead` snapshot's values of these columns, from a lead row."""
    return {c: tuple(getattr(row, c) or ()) if c in _LISTS else getattr(row, c) for c in LEAD_COLUMNS}


def out_values(row: Any) -> dict[str, Any]:
    """The lead API's values of these columns, from a lead row."""
    return {c: list(getattr(row, c) or []) if c in _LISTS else getattr(row, c) for c in LEAD_COLUMNS}


def column_values(lead: Any) -> dict[str, Any]:
    """The row's values of these columns, from a `Lead` snapshot."""
    return {c: list(getattr(lead, c)) if c in _LISTS else getattr(lead, c) for c in LEAD_COLUMNS}


def changes_from(lead: Any, heard: Any) -> dict[str, Any]:
    """The lead columns that `heard` (an `UpdateFields`: one attribute per field going onto a lead) changes: a
    money range and a date replace what is there, names are added to what is there."""
    changes: dict[str, Any] = {}
    for spec in TO_LEAD:
        value = getattr(heard, spec.name)
        if spec.kind is FieldKind.MONEY_RANGE and value is not None:
            low, high = spec.lead_columns
            changes.update({low: value.min, high: value.max})
        elif spec.kind is FieldKind.DATE and value is not None:
            changes[spec.lead_columns[0]] = value
        elif spec.kind is FieldKind.TEXTS:
            column = spec.lead_columns[0]
            extra = tuple(v for v in value if v not in getattr(lead, column))
            if extra:
                changes[column] = (*getattr(lead, column), *extra)
    return changes
