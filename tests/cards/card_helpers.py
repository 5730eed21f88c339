"""Leads, notes and viewers for the card tests, and the golden-file check."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from bot.leads.types import (
    PIPELINE,
    Actor,
    Budget,
    Contact,
    Evidence,
    EvidenceKind,
    Extraction,
    IntentTier,
    Lead,
    Priority,
    Role,
    Status,
    StatusChange,
    VoiceNote,
)

CST = timezone(timedelta(hours=8))
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=CST)
REP = Actor(1, 1, Role.REP, manager_id=10, name="张三")
MANAGER = Actor(10, 1, Role.MANAGER, name="王经理")
STRANGER = Actor(2, 1, Role.REP, manager_id=11, name="李四")
GOLDEN = Path(__file__).parent / "golden"


def lead_in(status: Status, **changes: Any) -> Lead:
    """A lead of REP in `status` with a full record (so its card shows every field)."""
    path = [Status.POOL]
    if status is Status.LOST:
        path += [Status.ASSIGNED, Status.CONTACTED, Status.LOST]
    elif status is not Status.POOL:
        path += list(PIPELINE[: PIPELINE.index(status) + 1])
    history = []
    for i, (a, b) in enumerate(zip([None, *path], path, strict=False)):
        history.append(StatusChange(a, b, T0 + timedelta(hours=i)))
    lead = Lead(
        id=42,
        tenant_id=1,
        status=status,
        version=len(history),
        company="杭州云帆科技有限公司",
        contact_name="陈明",
        phone="13800138000",
        source="官网表单",
        region="华东",
        industry="制造",
        budget_min=800_000,
        budget_max=1_000_000,
        tags=("急", "招标中"),
        intent=IntentTier.HIGH,
        priority=Priority.URGENT,
        contacts=(Contact("陈明", "总经理", True),),
        history=tuple(history),
        lost_reason="选择了竞品" if status is Status.LOST else None,
    )
    if status is not Status.POOL:
        lead = replace(lead, assignee_id=1, assignee_name="张三", assignee_manager_id=10)
    return replace(lead, **changes)


def bare_lead(status: Status) -> Lead:
    """The same lead with nothing on file, so gates show what is missing."""
    return lead_in(status, budget_min=None, budget_max=None, contacts=(), decision_maker=None, evidence=())


def voice_note(**changes: Any) -> VoiceNote:
    note = VoiceNote(
        id=9,
        tenant_id=1,
        lead_id=42,
        transcript="今天拜访了云帆科技，陈总和技术总监都在，预算大概八十万到一百万，下个月十五号开标，他们也在看华为的方案，比较关心数据安全。",
        fields=Extraction(
            budget=Budget(800_000, 1_000_000),
            tender_date=date(2026, 4, 15),
            competitors=("华为",),
            concerns=("数据安全",),
            titles=("总经理", "技术总监", "采购经理"),
            keywords=("私有化部署",),
        ),
        duration_s=38.4,
        at=T0 + timedelta(days=1),
    )
    return replace(note, **changes)


def evidence_at(hours: float) -> Evidence:
    return Evidence("voice:9", EvidenceKind.VOICE_SUMMARY, T0 + timedelta(hours=hours))


def check_golden(name: str, data: Any) -> None:
    """Compare with tests/cards/golden/<name>.json; LEADBOT_UPDATE_GOLDEN=1 rewrites it (review the diff)."""
    path = GOLDEN / f"{name}.json"
    if os.environ.get("LEADBOT_UPDATE_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        return
    assert path.exists(), f"no golden file {path}: run with LEADBOT_UPDATE_GOLDEN=1 and review it"
    assert json.loads(path.read_text(encoding="utf-8")) == data, f"{name} differs from its golden file"
