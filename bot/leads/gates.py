"""Who may act on a lead, what evidence a stage needs, and how a refusal reads on a card. Pure rules.

Who may act: the assignee, the assignee's manager, an admin (and the system's own jobs); anyone else is refused
and told why. Evidence gates (declared on their stages in `bot.leads.stages`), each switchable per tenant and on by
default:
  方案演示 needs a voice summary or an attachment logged since the lead entered 需求确认;
  商务谈判 needs a known budget;
  合同签署 needs the decision maker on file.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from bot.leads.stages import Missing as Missing
from bot.leads.types import DEMO_EVIDENCE_KINDS, PIPELINE, Actor, Lead, Role, Status, WorkflowSettings


# How each kind of gate is checked; which stage has which gate is the stage table's (`bot.leads.stages.STAGES`).
def _evidence_since_last_stage(lead: Lead, target: Status) -> bool:
    """A voice summary or attachment logged since the lead entered the stage before `target` (for 方案演示:
    需求确认)."""
    since = lead.entered_at(PIPELINE[PIPELINE.index(target) - 1])
    # Without a recorded entry into that stage (an imported lead) any such evidence on file counts.
    return any(e.kind in DEMO_EVIDENCE_KINDS and (since is None or e.at >= since) for e in lead.evidence)


_MET: Mapping[Missing, Callable[[Lead, Status], bool]] = {
    Missing.VOICE_SUMMARY: _evidence_since_last_stage,
    Missing.BUDGET: lambda lead, target: lead.budget_known,
    Missing.DECISION_MAKER: lambda lead, target: lead.has_decision_maker,
}


def evidence_missing(lead: Lead, target: Status) -> tuple[Missing, ...]:
    """What `target` would need that the lead lacks, whatever the tenant's gate settings."""
    gate = target.spec.gate
    if gate is None or _MET[gate.needs](lead, target):
        return ()
    return (gate.needs,)


def gate_enabled(target: Status, settings: WorkflowSettings) -> bool:
    gate = target.spec.gate
    return gate is not None and bool(getattr(settings, gate.setting))


def enforced_missing(lead: Lead, target: Status, settings: WorkflowSettings) -> tuple[Missing, ...]:
    """What blocks the step to `target` under this tenant's settings."""
    return evidence_missing(lead, target) if gate_enabled(target, settings) else ()


def may_manage(lead: Lead, actor: Actor) -> bool:
    """Admin, system, or the assignee's manager. A pool lead has no assignee: any manager of the tenant."""
    if actor.tenant_id != lead.tenant_id:
        return False
    if actor.role in (Role.ADMIN, Role.SYSTEM):
        return True
    if actor.role is not Role.MANAGER or actor.user_id is None:
        return False
    return lead.assignee_id is None or actor.user_id == lead.assignee_manager_id


def may_work(lead: Lead, actor: Actor) -> bool:
    """The assignee, or anyone who may manage the lead."""
    mine = actor.user_id is not None and actor.user_id == lead.assignee_id and actor.tenant_id == lead.tenant_id
    return mine or may_manage(lead, actor)


class RefusalCode(enum.StrEnum):
    WRONG_TENANT = "wrong_tenant"
    STALE_CARD = "stale_card"
    NOT_ALLOWED = "not_allowed"
    NEEDS_MANAGER = "needs_manager"
    ILLEGAL = "illegal_transition"
    GATE = "evidence_missing"
    CLOSED = "closed"
    ALREADY = "already"
    REASON_REQUIRED = "reason_required"
    BAD_TARGET = "bad_target"


_MESSAGES = {
    # Deliberately the same words as "not found": a stranger from another tenant learns nothing.
    RefusalCode.WRONG_TENANT: "找不到这条线索",
    RefusalCode.STALE_CARD: "卡片已过期，请查看最新卡片后再操作",
    RefusalCode.NOT_ALLOWED: "只有负责人、其经理或管理员可以操作这条线索",
    RefusalCode.NEEDS_MANAGER: "重新打开线索需要经理或管理员权限",
    RefusalCode.ILLEGAL: "当前状态不允许这个操作",
    RefusalCode.GATE: "推进到下一阶段前还缺少必要的证据",
    RefusalCode.CLOSED: "线索已关闭（赢单或输单），需经理重新打开后才能操作",
    RefusalCode.ALREADY: "无需重复操作",
    RefusalCode.REASON_REQUIRED: "请选择输单原因",
    RefusalCode.BAD_TARGET: "该成员不可接收线索",
}


@dataclass(frozen=True, slots=True)
class Refusal:
    """Nothing changed. `message` is Chinese, ready for the card's notice line; `missing` lists what a gate
    wants (for the card's "missing evidence" line)."""

    code: RefusalCode
    message: str
    missing: tuple[Missing, ...] = ()
    target: Status | None = None

    ok = False


def refuse(
    code: RefusalCode, message: str = "", *, missing: tuple[Missing, ...] = (), target: Status | None = None
) -> Refusal:
    if not message and code is RefusalCode.GATE and target is not None:
        message = f"推进到「{target.label}」需要先补充：" + "、".join(m.label for m in missing)
    return Refusal(code, message or _MESSAGES[code], missing, target)
