"""`leadbot leads import` and `leadbot audit verify`."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import click
from pydantic import ValidationError
from tqdm import tqdm

from bot.admin.schemas import ImportReport, RowError
from bot.admin.users import refuse_nul_in_csv
from bot.cli.support import run_command
from bot.errors import InvalidField, NotFound
from bot.leads import service as leadservice
from bot.leads import store as leadstore
from bot.leads import types as lt
from bot.leads.schemas import LeadIn
from bot.runtime.config import Settings
from storage.models import Tenant

LEAD_COLUMNS = ("external_id", "company", "contact_name", "phone", "email", "source", "region", "industry",
                "budget_min", "budget_max", "tags", "intent")


def _row_payload(row: dict[str, str]) -> dict[str, Any]:
    data: dict[str, Any] = {k: v.strip() for k, v in row.items() if k in LEAD_COLUMNS and v and v.strip()}
    if "tags" in data:
        for sep in ("；", ";", "、", "|", "，"):
            data["tags"] = data["tags"].replace(sep, ",")
        data["tags"] = [t.strip() for t in data["tags"].split(",") if t.strip()]
    return data


def read_leads_csv(text: str) -> list[tuple[int, dict[str, str]]]:
    refuse_nul_in_csv(text)
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    try:
        unknown = sorted(set(reader.fieldnames or ()) - set(LEAD_COLUMNS))
        if unknown:
            raise InvalidField("csv", f"unknown column(s): {', '.join(unknown)}; "
                               f"expected: {', '.join(LEAD_COLUMNS)}")
        return [(reader.line_num, {k: v or "" for k, v in r.items() if k}) for r in reader]
    except csv.Error as e:  # a field over the csv module's 128 KiB limit, a broken quote: nothing is imported
        raise InvalidField("csv", f"line {reader.line_num + 1}: {e}; nothing was imported") from None


@click.group()
def leads() -> None:
    """Leads: bulk import."""


@leads.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--tenant", "tenant_id", type=int, required=True)
def leads_import(file: Path, tenant_id: int) -> None:
    """Import leads from a UTF-8 CSV (columns: external_id, company, contact_name, phone, email, source, region,
    industry, budget_min, budget_max, tags, intent). Each new lead is routed as if it came through the API; a
    row whose external_id exists already is left as it is (reported as unchanged)."""

    async def run(settings: Settings) -> tuple[ImportReport, int]:
        from bot.runtime.services import open_services

        rows = read_leads_csv(file.read_text(encoding="utf-8"))
        report, unchanged = ImportReport(), 0
        async with open_services(settings) as services:
            if not await Tenant.exists(id=tenant_id):
                raise NotFound(f"tenant {tenant_id} not found")
            actor = lt.Actor(user_id=None, tenant_id=tenant_id, role=lt.Role.SYSTEM, name="import")
            for line, row in tqdm(rows, desc="importing leads", unit="row", file=click.get_text_stream("stderr")):
                try:
                    data = LeadIn.model_validate(_row_payload(row))
                except ValidationError as e:
                    err = e.errors()[0]
                    report.errors.append(RowError(row=line, field=".".join(map(str, err["loc"])) or None,
                                                  reason=err["msg"]))
                    continue
                _, created = await leadservice.create_lead(services, tenant_id, data.values(), actor)
                report.created += created
                unchanged += not created
        return report, unchanged

    report, unchanged = run_command(run)
    click.echo(f"created {report.created}, unchanged {unchanged}, {len(report.errors)} error(s)")
    for err in report.errors:
        click.echo(f"  line {err.row}: {err.field + ': ' if err.field else ''}{err.reason}", err=True)
    if report.errors:
        raise SystemExit(1)


@click.group()
def audit() -> None:
    """The per-lead audit chains."""


@audit.command("verify")
@click.option("--tenant", "tenant_id", type=int, default=None)
def audit_verify(tenant_id: int | None) -> None:
    """Check every lead's chain; name the first broken link of each broken chain (exit 1 if any)."""

    async def run(settings: Settings) -> tuple[int, list[str]]:
        from bot.cli.support import database

        async with database(settings):
            return await leadstore.verify_chains(tenant_id)

    checked, broken = run_command(run)
    for line in broken:
        click.echo(line)
    click.echo(f"checked {checked} lead chain(s): {len(broken)} broken")
    if broken:
        raise SystemExit(1)


COMMANDS = [leads, audit]
