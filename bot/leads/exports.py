"""Lead exports as CSV and XLSX, read from the database in chunks and written as they are read.

Memory stays flat however many leads a tenant has: leads come in keyset-paged chunks (the same filters and query as
`GET /api/leads`, through `bot.leads.queries.search`), CSV goes out chunk by chunk, and XLSX is built by openpyxl's
write-only workbook, which streams rows to a temporary file instead of keeping them.

CSV starts with a UTF-8 byte order mark: without it Excel reads the file in the system's ANSI code page and Chinese
comes out garbled. Times are in the tenant's time zone. A text cell that a spreadsheet would run as a formula
(`=…`, `@…`, `+`/`-` not followed by a plain number) is prefixed with `'` in CSV; XLSX cells are typed as text,
so nothing in them is ever evaluated.
"""

from __future__ import annotations

import asyncio
import csv
import io
import re
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from bot.leads import queries as leadqueries
from bot.leads.schemas import LeadOut
from bot.leads.types import Status
from storage.models import User

Format = Literal["csv", "xlsx"]
CHUNK = 1000
BOM = "\ufeff"
CONTENT_TYPES: dict[str, str] = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


@dataclass(frozen=True, slots=True)
class Filters:
    status: Status | None = None
    assignee_id: int | None = None
    overdue: bool | None = None


Getter = Callable[[LeadOut, dict[int, str]], Any]

# The import's columns first, under the same names, then what the service adds.
COLUMNS: tuple[tuple[str, Getter], ...] = (
    ("id", lambda x, n: x.id),
    ("external_id", lambda x, n: x.external_id),
    ("company", lambda x, n: x.company),
    ("contact_name", lambda x, n: x.contact_name),
    ("phone", lambda x, n: x.phone),
    ("email", lambda x, n: x.email),
    ("source", lambda x, n: x.source),
    ("region", lambda x, n: x.region),
    ("industry", lambda x, n: x.industry),
    ("budget_min", lambda x, n: x.budget_min),
    ("budget_max", lambda x, n: x.budget_max),
    ("tags", lambda x, n: x.tags),
    ("intent", lambda x, n: x.intent),
    ("priority", lambda x, n: x.priority),
    ("status", lambda x, n: x.status),
    ("status_label", lambda x, n: x.status_label),
    ("assignee_id", lambda x, n: x.assignee_id),
    ("assignee_name", lambda x, n: n.get(x.assignee_id) if x.assignee_id else None),
    ("decision_maker", lambda x, n: x.decision_maker),
    ("competitors", lambda x, n: x.competitors),
    ("tender_date", lambda x, n: x.tender_date),
    ("lost_reason", lambda x, n: x.lost_reason),
    ("version", lambda x, n: x.version),
    ("created_at", lambda x, n: x.created_at),
    ("assigned_at", lambda x, n: x.assigned_at),
    ("contacted_at", lambda x, n: x.contacted_at),
    ("closed_at", lambda x, n: x.closed_at),
    ("response_deadline", lambda x, n: x.response_deadline),
    ("overdue", lambda x, n: x.overdue),
)
HEADERS = tuple(name for name, _ in COLUMNS)

_PLAIN_NUMBER = re.compile(r"^[+-][\d\s().-]*$")


def neutralise(text: str) -> str:
    """A CSV cell a spreadsheet will show as text, never run as a formula (phone numbers such as +8613800138000
    are left alone: as a "formula" they are just a number)."""
    if not text:
        return text
    first = text[0]
    if first in "=@\t\r" or (first in "+-" and not _PLAIN_NUMBER.match(text)):
        return "'" + text
    return text


def local_time(value: datetime, tz: ZoneInfo) -> datetime:
    return value.astimezone(tz) if value.tzinfo else value.replace(tzinfo=ZoneInfo("UTC")).astimezone(tz)


def csv_value(value: Any, tz: ZoneInfo) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return local_time(value, tz).isoformat(timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return neutralise(";".join(str(v) for v in value))
    if isinstance(value, str):
        return neutralise(value)
    return str(value)


# XML 1.0 cannot carry these control characters; openpyxl refuses a cell holding one.
_ILLEGAL_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def xlsx_value(value: Any, tz: ZoneInfo) -> Any:
    """What openpyxl gets: Excel has no time zones, so times are the tenant's local wall-clock time."""
    if isinstance(value, datetime):
        return local_time(value, tz).replace(tzinfo=None)
    if isinstance(value, (list, tuple)):
        value = ";".join(str(v) for v in value)
    if isinstance(value, str):
        return _ILLEGAL_XML.sub("", value)
    return value


async def chunks(tenant_id: int, filters: Filters, *, now: datetime,
                 size: int | None = None) -> AsyncIterator[list[list[Any]]]:
    """The tenant's leads matching `filters` (overdue as of `now`), as rows of column values, `size` (default
    CHUNK) leads at a time."""
    size = size or CHUNK
    after_id = 0
    while True:
        leads = await leadqueries.search(tenant_id, status=filters.status, assignee_id=filters.assignee_id,
                                         overdue=filters.overdue, limit=size, after_id=after_id, now=now)
        if not leads:
            return
        after_id = leads[-1].id
        ids = {x.assignee_id for x in leads if x.assignee_id}
        names = dict(await User.filter(id__in=list(ids)).values_list("id", "name")) if ids else {}
        yield [[get(x, names) for _, get in COLUMNS] for x in leads]
        if len(leads) < size:
            return


async def csv_bytes(rows: AsyncIterator[list[list[Any]]], tz: ZoneInfo) -> AsyncIterator[bytes]:
    """The CSV document, header first (after the BOM), one encoded piece per chunk of rows."""
    yield _csv_text([list(HEADERS)], prefix=BOM).encode()
    async for chunk in rows:
        yield _csv_text([[csv_value(v, tz) for v in row] for row in chunk]).encode()


def _csv_text(rows: Sequence[Sequence[str]], prefix: str = "") -> str:
    out = io.StringIO()
    out.write(prefix)
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    return out.getvalue()


def _append(ws: Any, rows: list[list[Any]], tz: ZoneInfo) -> None:
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ERROR_CODES

    def cell(value: Any) -> Any:
        # openpyxl makes "=…" a formula and "#N/A" an error value: write such text as an inline string instead.
        if isinstance(value, str) and (value.startswith("=") or value in ERROR_CODES):
            text = WriteOnlyCell(ws, value=value)
            text.data_type = "s"
            return text
        return value

    for row in rows:
        ws.append([cell(xlsx_value(v, tz)) for v in row])


async def write_xlsx(rows: AsyncIterator[list[list[Any]]], path: Path, tz: ZoneInfo) -> None:
    """Build the workbook at `path`. openpyxl is synchronous: each chunk is written in a thread, one at a time,
    so the event loop keeps answering other requests meanwhile. (Imported here: it takes half a second to load,
    which every other command would pay.)"""
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("leads")
    ws.append(list(HEADERS))
    async for chunk in rows:
        await asyncio.to_thread(_append, ws, chunk, tz)
    await asyncio.to_thread(wb.save, str(path))


def filename(tenant_id: int, fmt: Format, now: datetime) -> str:
    return f"leads-{tenant_id}-{now:%Y%m%d-%H%M%S}.{fmt}"
