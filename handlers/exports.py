"""`GET /api/leads/export?format=csv|xlsx`: a tenant's leads as a file, filtered like `GET /api/leads`.

CSV is streamed as it is read from the database (chunked transfer: no length known in advance). XLSX must be
complete before its first byte is useful (it is a zip), so it is built in a temporary file in constant memory and
then streamed from there. `bot.leads.exports` does the reading and writing.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from aiohttp import web
from pydantic import Field

from bot.admin.schemas import ROW_ID_MAX, Strict
from bot.leads import exports
from bot.leads.types import Status
from bot.runtime.appkeys import SERVICES
from handlers.auth import authenticate
from handlers.http import HttpProblem, query_model
from handlers.openapi import ApiRoutes
from storage.models import Tenant, TokenScope

API = ApiRoutes()

log = logging.getLogger(__name__)
_FILE_CHUNK = 64 * 1024


class ExportQuery(Strict):
    tenant_id: int | None = Field(default=None, ge=1, le=ROW_ID_MAX, description="Required with the operator token")
    status: Status | None = None
    assignee_id: int | None = Field(default=None, ge=1, le=ROW_ID_MAX)
    overdue: bool | None = Field(default=None, description="Only leads past their response deadline")
    format: Literal["csv", "xlsx"] = Field(default="csv", description="csv (UTF-8 with BOM) or xlsx")


def _response(fmt: exports.Format, tenant_id: int, now: datetime) -> web.StreamResponse:
    name = exports.filename(tenant_id, fmt, now)
    return web.StreamResponse(headers={
        "Content-Type": exports.CONTENT_TYPES[fmt],
        "Content-Disposition": f'attachment; filename="{name}"',
        "Cache-Control": "no-store",
    })


@API.route("GET", "/api/leads/export", summary="Export leads as CSV or XLSX (filters as in GET /api/leads)",
           tags=("leads",), query=ExportQuery, errors=(401, 403, 404))
async def export_leads(request: web.Request) -> web.StreamResponse:
    principal = await authenticate(request, need=TokenScope.API)
    q = query_model(request, ExportQuery)
    tenant = await Tenant.get_or_none(id=principal.tenant_for(q.tenant_id), active=True)
    if tenant is None:
        raise HttpProblem(404, "not_found", "tenant not found")
    return await send_export(request, tenant, exports.Filters(q.status, q.assignee_id, q.overdue), q.format)


async def send_export(request: web.Request, tenant: Tenant, filters: exports.Filters,
                      fmt: exports.Format) -> web.StreamResponse:
    """The tenant's leads as a file download (the API's export and the console's)."""
    tz = ZoneInfo(tenant.timezone)
    now = request.app[SERVICES].clock.now()  # one instant for what is overdue and for the file's name
    rows = exports.chunks(tenant.id, filters, now=now)
    if fmt == "csv":
        response = _response("csv", tenant.id, now)
        await response.prepare(request)
        async for piece in exports.csv_bytes(rows, tz):
            await response.write(piece)
        await response.write_eof()
        return response
    return await _send_xlsx(request, rows, tz, tenant.id, now)


async def _send_xlsx(request: web.Request, rows: AsyncIterator[list[list[Any]]], tz: ZoneInfo,
                     tenant_id: int, now: datetime) -> web.StreamResponse:
    fd, name = tempfile.mkstemp(prefix="leadbot-export-", suffix=".xlsx")
    os.close(fd)
    path = Path(name)
    try:
        await exports.write_xlsx(rows, path, tz)
        response = _response("xlsx", tenant_id, now)
        response.content_length = path.stat().st_size
        await response.prepare(request)
        with path.open("rb") as f:
            while piece := f.read(_FILE_CHUNK):
                await response.write(piece)
        await response.write_eof()
        return response
    finally:
        with contextlib.suppress(OSError):
            path.unlink()
