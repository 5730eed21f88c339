"""Lead exports: CSV (UTF-8 with BOM) and XLSX, read back by the csv module and openpyxl; filters, tenants, paging,
formula-looking text, and the CLI."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import sys
from datetime import datetime
from pathlib import Path

import openpyxl
import pytest

from bot.leads import exports
from bot.leads import service as leadservice
from bot.leads import types as lt
from bot.leads.actions import Advance
from bot.leads.schemas import LeadIn
from storage.models import RoutingRule
from tests.conftest import MASTER_KEY
from tests.leads.conftest import Team, make_team

SEED = [
    {"company": "华东机械", "external_id": "crm-1", "contact_name": "张三", "phone": "13800138000",
     "tags": ["急", "招标中"], "budget_min": 800000, "budget_max": 1000000},
    {"company": "=HYPERLINK(\"http://evil.example/\",\"点我\")", "external_id": "crm-2", "contact_name": "@李四"},
    {"company": "西南能源", "external_id": "crm-3", "email": "wang@example.com"},
]


async def _seed(services, team: Team) -> list[int]:
    await RoutingRule.create(tenant=team.tenant, name="all", spec={"strategy": "named",
                                                                   "named_rep_id": team.reps[0].id})
    actor = lt.Actor(user_id=None, tenant_id=team.tenant.id, role=lt.Role.SYSTEM, name="api")
    ids = []
    for values in SEED:
        row, _ = await leadservice.create_lead(services, team.tenant.id, LeadIn.model_validate(values).values(), actor)
        ids.append(row.id)
    rep = leadservice.actor_for(team.reps[0])
    await leadservice.act(services, ids[0], Advance(lt.Status.CONTACTED), rep, source=lt.EventSource.API, inline=False)
    return ids


@pytest.fixture
async def seeded(services) -> tuple[Team, list[int]]:
    team = await make_team("acme")
    other = await make_team("globex")
    await _seed(services, other)  # another tenant's leads must never appear
    return team, await _seed(services, team)


def _csv_rows(raw: bytes) -> list[dict[str, str]]:
    assert raw.startswith("\ufeff".encode())  # BOM: Excel then reads it as UTF-8
    return list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))


async def test_csv_export_reads_back_with_the_csv_module(client, seeded) -> None:
    team, ids = seeded
    r = await client.get("/api/leads/export?format=csv", headers=team.headers)
    assert r.status == 200 and r.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in r.headers["Content-Disposition"] and "Content-Length" not in r.headers  # streamed
    rows = _csv_rows(await r.read())
    assert [int(x["id"]) for x in rows] == ids
    first, formula, third = rows
    assert (first["company"], first["contact_name"], first["status"], first["status_label"]) == (
        "华东机械", "张三", "contacted", "已联系")
    assert first["assignee_name"] == team.reps[0].name and first["assignee_id"] == str(team.reps[0].id)
    assert (first["phone"], first["tags"], first["budget_max"]) == ("+8613800138000", "急;招标中", "1000000")
    assert datetime.fromisoformat(first["created_at"]).utcoffset().total_seconds() == 8 * 3600  # Asia/Shanghai
    assert formula["company"].startswith("'=HYPERLINK") and formula["contact_name"] == "'@李四"
    assert (third["email"], third["status"], third["contacted_at"]) == ("wang@example.com", "assigned", "")
    assert list(rows[0]) == list(exports.HEADERS)


async def test_xlsx_export_reads_back_with_openpyxl(client, seeded) -> None:
    team, ids = seeded
    r = await client.get("/api/leads/export?format=xlsx", headers=team.headers)
    assert r.status == 200 and r.headers["Content-Type"] == exports.CONTENT_TYPES["xlsx"]
    sheet = openpyxl.load_workbook(io.BytesIO(await r.read()))["leads"]
    header, *rows = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert header == list(exports.HEADERS)
    col = {name: i for i, name in enumerate(header)}
    assert [row[col["id"]] for row in rows] == ids
    assert rows[0][col["company"]] == "华东机械" and rows[0][col["budget_max"]] == 1000000
    assert isinstance(rows[0][col["created_at"]], datetime) and rows[0][col["contacted_at"]] is not None
    # kept as text, never turned into a formula Excel would run
    cell = sheet.cell(row=3, column=col["company"] + 1)
    assert cell.value.startswith("=HYPERLINK") and cell.data_type == "s"


async def test_filters_are_those_of_the_lead_list(client, seeded) -> None:
    team, ids = seeded
    r = await client.get("/api/leads/export?status=assigned", headers=team.headers)
    assert [int(x["id"]) for x in _csv_rows(await r.read())] == ids[1:]
    r = await client.get(f"/api/leads/export?assignee_id={team.reps[1].id}", headers=team.headers)
    assert _csv_rows(await r.read()) == []
    r = await client.get("/api/leads/export?format=pdf", headers=team.headers)
    assert r.status == 400


async def test_one_tenant_cannot_export_anothers_leads(client, admin_headers, seeded) -> None:
    team, ids = seeded
    r = await client.get(f"/api/leads/export?tenant_id={team.tenant.id + 1}", headers=team.headers)
    assert r.status == 404
    r = await client.get("/api/leads/export", headers=admin_headers)
    assert r.status == 400  # the operator names the tenant
    r = await client.get(f"/api/leads/export?tenant_id={team.tenant.id}", headers=admin_headers)
    assert [int(x["id"]) for x in _csv_rows(await r.read())] == ids
    r = await client.get("/api/leads/export")
    assert r.status == 401


async def test_many_chunks_come_out_whole_and_in_order(client, services, monkeypatch) -> None:
    team = await make_team("acme")
    actor = lt.Actor(user_id=None, tenant_id=team.tenant.id, role=lt.Role.SYSTEM, name="api")
    ids = [(await leadservice.create_lead(services, team.tenant.id, {"company": f"客户{n}"}, actor))[0].id
           for n in range(11)]
    monkeypatch.setattr(exports, "CHUNK", 4)
    pages: list[int] = []
    search = exports.leadqueries.search

    async def counted(*args, **kwargs):
        pages.append(kwargs["after_id"])
        return await search(*args, **kwargs)

    monkeypatch.setattr(exports.leadqueries, "search", counted)
    for fmt in ("csv", "xlsx"):
        r = await client.get(f"/api/leads/export?format={fmt}", headers=team.headers)
        raw = await r.read()
        if fmt == "csv":
            got = [int(x["id"]) for x in _csv_rows(raw)]
        else:
            sheet = openpyxl.load_workbook(io.BytesIO(raw), read_only=True)["leads"]
            got = [row[0] for row in sheet.iter_rows(min_row=2, values_only=True)]
        assert got == ids, fmt
    assert pages == [0, ids[3], ids[7]] * 2  # three pages of at most four, each after the last id seen


@pytest.mark.parametrize("text, expected", [
    ("=1+1", "'=1+1"),
    ("@SUM(A1)", "'@SUM(A1)"),
    ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
    ("-2+3", "'-2+3"),
    ("\t=1", "'\t=1"),
    ("+8613800138000", "+8613800138000"),
    ("-12.5", "-12.5"),
    ("华东机械", "华东机械"),
    ("", ""),
])
def test_csv_cells_never_run_as_formulas(text, expected) -> None:
    assert exports.neutralise(text) == expected


@pytest.mark.slow
async def test_the_cli_exports_csv_and_xlsx(services, settings, seeded, tmp_path: Path) -> None:
    team, ids = seeded
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEADBOT_")}
    env.update(LEADBOT_DATA_DIR=str(settings.data_dir), LEADBOT_MASTER_KEY=MASTER_KEY)
    if settings.database_url:
        env["LEADBOT_DATABASE_URL"] = settings.database_url

    async def leadbot(*args: str) -> tuple[int, bytes, str]:
        proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", "leads", "export", *args, env=env,
                                                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), 120)
        return proc.returncode, out, err.decode()

    code, out, err = await leadbot("--tenant", str(team.tenant.id), "--status", "assigned")
    assert code == 0, err
    assert [int(x["id"]) for x in _csv_rows(out)] == ids[1:]
    target = tmp_path / "leads.xlsx"
    code, _, err = await leadbot("--tenant", str(team.tenant.id), "--format", "xlsx", "-o", str(target))
    assert code == 0, err
    sheet = openpyxl.load_workbook(target, read_only=True)["leads"]
    assert [row[0] for row in sheet.iter_rows(min_row=2, values_only=True)] == ids
    code, _, err = await leadbot("--tenant", str(team.tenant.id), "--format", "xlsx")
    assert code == 2 and "--output" in err
