"""`leadbot leads import`: a progress bar, each new lead routed, a per-row error report."""

from __future__ import annotations

import os
import subprocess
import sys

from storage.models import Lead, RoutingRule


def _leadbot(settings, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "LEADBOT_DATA_DIR": str(settings.data_dir), "LEADBOT_REDIS_URL": settings.redis_url,
           "LEADBOT_MASTER_KEY": settings.master_key.get_secret_value()}
    if settings.database_url:
        env["LEADBOT_DATABASE_URL"] = settings.database_url
    return subprocess.run([sys.executable, "-m", "bot", *args], env=env, capture_output=True, text=True, timeout=120)


async def test_import_routes_new_leads_and_reports_bad_rows(team, settings, tmp_path) -> None:
    await RoutingRule.create(tenant=team.tenant, name="all", spec={"strategy": "named",
                                                                   "named_rep_id": team.reps[1].id})
    await Lead.create(tenant=team.tenant, external_id="crm-2", company="已有")
    csv = tmp_path / "leads.csv"
    csv.write_text(
        "\ufeffexternal_id,company,contact_name,phone,source,tags,intent,budget_max\n"
        "crm-1,华东机械,张三,13800138000,展会,急;招标中,high,800000\n"
        "crm-2,已有,,,,,,\n"
        "crm-3,坏电话,李四,12345,,,,\n"
        "crm-4,坏意向,王五,,,,someday,\n"
        "crm-5,,,,,,,\n",
        encoding="utf-8",
    )
    r = _leadbot(settings, "leads", "import", str(csv), "--tenant", str(team.tenant.id))
    assert r.returncode == 1, r.stderr
    assert "created 1, unchanged 1, 3 error(s)" in r.stdout
    assert "line 4: phone:" in r.stderr and "line 5: intent:" in r.stderr and "line 6:" in r.stderr
    assert "importing leads" in r.stderr  # the progress bar
    lead = await Lead.get(external_id="crm-1")
    assert (lead.status, lead.assignee_id, lead.tags, lead.phone) == ("assigned", team.reps[1].id, ["急", "招标中"],
                                                                      "+8613800138000")
    assert await Lead.all().count() == 2
