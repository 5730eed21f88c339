"""Platform-neutral cards, built by pure functions from the workflow's values (voice-note cards: cards.voice).

A card is drawn for one viewer: the buttons are the actions that viewer may take now (a rep and their manager
holding cards of the same lead see different buttons), so every live card is re-rendered for its own holder.
Each platform's renderer (`cards.<platform>`) turns a `Card` into wire JSON; each cuts user text to fit, never our
labels.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo

from bot.leads.actions import Action, Advance, Claim, MarkLost, ReleaseToPool, Reopen
from bot.leads.gates import enforced_missing
from bot.leads.types import (
    DEFAULT_SETTINGS,
    LOST_REASONS,
    Actor,
    IntentTier,
    Lead,
    Priority,
    Status,
    WorkflowSettings,
    next_stage,
)
from bot.leads.workflow import allowed_actions
from cards.keys import ButtonKey, KeyAction
from cards.limits import clean

CHINA_TZ = timezone(timedelta(hours=8), "CST")
MAX_BUTTONS = 6  # the tightest platform's limit; every platform's card is built for the same number
MAX_BUTTON_CHARS = 10


class CardKind(enum.StrEnum):
    LEAD = "lead"
    ALERT = "alert"
    VOICE_SUMMARY = "voice_summary"
    LEAD_CHOOSER = "lead_chooser"
    LOST_REASON = "lost_reason"
    NOTICE = "notice"
    DIGEST = "digest"  # the managers' daily board digest (bot.board.digest)


class Tone(enum.StrEnum):
    INFO = "info"
    SUCCESS = "success"
    WARNING = "warning"
    DANGER = "danger"


class ButtonStyle(enum.StrEnum):
    PRIMARY = "primary"
    DEFAULT = "default"
    DANGER = "danger"


@dataclass(frozen=True, slots=True)
class Button:
    """A callback button (`key`: the click comes back to us) or a link button (`url`: the client opens it)."""

    text: str
    key: ButtonKey | None
    style: ButtonStyle = ButtonStyle.DEFAULT
    url: str = ""

    def __post_init__(self) -> None:
        if (self.key is None) == (not self.url):
            raise ValueError("a button has either a key or a url")


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    value: str


@dataclass(frozen=True, slots=True)
class Card:
    """`status` is a short badge (the stage, "待确认"...); `missing` lists evidence the next step needs;
    `notice` is a one-off line such as why a click was refused."""

    kind: CardKind
    title: str
    subtitle: str = ""
    status: str = ""
    fields: tuple[Field, ...] = ()
    body: str = ""
    missing: tuple[str, ...] = ()
    notice: str = ""
    buttons: tuple[Button, ...] = ()
    tone: Tone = Tone.INFO


# --- formatting -------------------------------------------------------------------------------------------

_INTENT: dict[IntentTier | None, str] = {IntentTier.HIGH: "高", IntentTier.MEDIUM: "中", IntentTier.LOW: "低"}


def money(amount: int) -> str:
    """950000 -> "95万", 120000000 -> "1.2亿", 8000 -> "8000元"."""
    for unit, size in (("亿", 100_000_000), ("万", 10_000)):
        if abs(amount) >= size:
            return f"{round(amount / size, 2):g}{unit}"
    return f"{amount}元"


def budget_text(low: int | None, high: int | None) -> str:
    if low is None:
        return "未知" if high is None else "≤" + money(high)
    if high is None:
        return "≥" + money(low)
    return money(low) if low == high else f"{money(low)}-{money(high)}"


def when(dt: datetime, tz: tzinfo = CHINA_TZ) -> str:
    return dt.astimezone(tz).strftime("%m-%d %H:%M")


def lead_title(lead: Lead) -> str:
    return title_of(lead.id, lead.company, lead.contact_name)


def title_of(lead_id: int, company: str, contact_name: str) -> str:
    """`lead_title` from the three columns it reads (the board lists thousands of leads without building each)."""
    return clean(company or contact_name, one_line=True) or f"线索 #{lead_id}"


# --- lead cards -------------------------------------------------------------------------------------------


def _action_button(action: Action, lead: Lead) -> Button:
    def key(kind: KeyAction, arg: str = "") -> ButtonKey:
        return ButtonKey(kind, lead.id, lead.version, arg)

    if isinstance(action, Advance):
        return Button(action.to.spec.button_text, key(KeyAction.ADVANCE, str(action.to)), ButtonStyle.PRIMARY)
    if isinstance(action, Claim):
        return Button("我来处理", key(KeyAction.CLAIM), ButtonStyle.PRIMARY)
    if isinstance(action, ReleaseToPool):
        return Button("退回公海", key(KeyAction.RELEASE))
    if isinstance(action, MarkLost):
        return Button("输单", key(KeyAction.LOST), ButtonStyle.DANGER)
    if isinstance(action, Reopen):
        return Button("重新打开", key(KeyAction.REOPEN))
    raise ValueError(f"no button for {action!r}")


def refresh_button(lead: Lead) -> Button:
    """For a viewer who may do nothing now: a click re-renders the card (and, where updates spend a code, brings a
    fresh one)."""
    return Button("刷新", ButtonKey(KeyAction.REFRESH, lead.id, lead.version))


def _lead_fields(lead: Lead, deadline: datetime | None, tz: tzinfo) -> tuple[Field, ...]:
    contact = " ".join(p for p in (clean(lead.contact_name, one_line=True), _title_of(lead)) if p)
    place = " · ".join(p for p in (lead.region, lead.industry) if p)
    fields = [
        Field("联系人", contact or "未知"),
        Field("电话", lead.phone or "未知"),
        Field("预算", budget_text(lead.budget_min, lead.budget_max)),
        Field("来源", lead.source or "未知"),
        Field("区域行业", place or "未知"),
    ]
    if lead.status is Status.ASSIGNED and deadline is not None:
        fields.append(Field("联系截止", when(deadline, tz)))
    elif lead.status is Status.LOST:
        fields.append(Field("输单原因", lead.lost_reason or "未填写"))
    else:
        fields.append(Field("意向", _INTENT.get(lead.intent, "未知")))
    return tuple(fields)


def _title_of(lead: Lead) -> str:
    for c in lead.contacts:
        if c.name == lead.contact_name and c.title:
            return c.title
    return ""


def _lead_subtitle(lead: Lead) -> str:
    parts = [f"负责人：{lead.assignee_name}" if lead.assignee_id is not None else "公海待分配"]
    if lead.priority >= Priority.URGENT:
        parts.append("优先级：急")
    if lead.bounce_count:
        parts.append(f"已退回 {lead.bounce_count} 次")
    return " · ".join(parts)


def _lead_tone(lead: Lead, overdue: bool, missing: tuple[str, ...]) -> Tone:
    if lead.status is Status.WON:
        return Tone.SUCCESS
    if overdue or lead.priority >= Priority.URGENT:
        return Tone.DANGER
    return Tone.WARNING if missing else Tone.INFO


def _missing_labels(lead: Lead, settings: WorkflowSettings) -> tuple[str, ...]:
    step = next_stage(lead.status)
    return tuple(m.label for m in enforced_missing(lead, step, settings)) if step else ()


def lead_card(
    lead: Lead,
    viewer: Actor,
    *,
    settings: WorkflowSettings = DEFAULT_SETTINGS,
    deadline: datetime | None = None,
    now: datetime | None = None,
    notice: str = "",
    tz: tzinfo = CHINA_TZ,
) -> Card:
    """The lead as `viewer` sees it: key fields, the response deadline while 已分配, what the next stage still
    needs, and a button for each action `viewer` may take now (or 刷新 when there is none)."""
    buttons = tuple(_action_button(a, lead) for a in allowed_actions(lead, viewer, settings))
    overdue = lead.status is Status.ASSIGNED and deadline is not None and now is not None and now > deadline
    missing = _missing_labels(lead, settings)
    body = "标签：" + "、".join(lead.tags) if lead.tags else ""
    return Card(
        kind=CardKind.LEAD,
        title=lead_title(lead),
        subtitle=_lead_subtitle(lead),
        status=lead.status.label + ("·已超时" if overdue else ""),
        fields=_lead_fields(lead, deadline, tz),
        body=body,
        missing=missing,
        notice=clean(notice),
        buttons=buttons or (refresh_button(lead),),
        tone=_lead_tone(lead, overdue, missing),
    )


def alert_card(
    lead: Lead,
    viewer: Actor,
    *,
    alert_id: int,
    headline: str,
    settings: WorkflowSettings = DEFAULT_SETTINGS,
    deadline: datetime | None = None,
    tz: tzinfo = CHINA_TZ,
) -> Card:
    """An escalation alert ("超时未联系"...): 已联系 for the rep, 我来处理 for a manager, and 知道了 (the ack)."""

    def fits(action: Action) -> bool:
        if isinstance(action, Advance):  # only the rep who holds the lead marks it contacted from an alert
            return action.to is Status.CONTACTED and viewer.user_id == lead.assignee_id
        return isinstance(action, Claim)

    buttons = [_action_button(a, lead) for a in allowed_actions(lead, viewer, settings) if fits(a)]
    buttons.append(Button("知道了", ButtonKey(KeyAction.ACK, alert_id)))
    return Card(
        kind=CardKind.ALERT,
        title=f"{clean(headline, one_line=True)}：{lead_title(lead)}",
        subtitle=_lead_subtitle(lead),
        status=lead.status.label,
        fields=_lead_fields(lead, deadline, tz),
        buttons=tuple(buttons),
        tone=Tone.DANGER,
    )


def lost_reason_card(lead: Lead, *, notice: str = "") -> Card:
    """Asked after 输单 without a reason: one button per reason."""
    buttons = tuple(
        Button(label, ButtonKey(KeyAction.LOST, lead.id, lead.version, code)) for code, label in LOST_REASONS.items()
    )
    return Card(
        kind=CardKind.LOST_REASON,
        title=f"输单原因：{lead_title(lead)}",
        subtitle="请选择输单原因，线索将标记为「输单」",
        status=lead.status.label,
        notice=clean(notice),
        buttons=buttons,
        tone=Tone.WARNING,
    )


def notice_card(title: str, text: str, *, ref_id: int = 0, tone: Tone = Tone.INFO) -> Card:
    """A plain message; its one button (知道了) acknowledges it (`ref_id`: the alert or notice it answers)."""
    return Card(
        kind=CardKind.NOTICE,
        title=clean(title, one_line=True),
        body=clean(text),
        buttons=(Button("知道了", ButtonKey(KeyAction.ACK, ref_id)),),
        tone=tone,
    )


def detail_lines(card: Card) -> list[str]:
    """The free-text part of a card, most important first: the notice, what is missing, then the body."""
    lines = []
    if card.notice:
        lines.append(f"【提示】{card.notice}")
    if card.missing:
        lines.append("待补充：" + "、".join(card.missing))
    if card.body:
        lines.append(card.body)
    return lines
