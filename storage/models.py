"""Tortoise models: the database is the source of truth.

Sealed columns (`*_sealed`) hold `storage.secrets` ciphertexts; nothing else in the schema is secret. Every
tenant-owned row carries `tenant_id` so a query can always be scoped to one tenant.
"""

from __future__ import annotations

import enum

from tortoise import fields, models


class _Meta(models.ModelMeta):
    # Tortoise reads each model's source and parses this whole module with `ast` to find `#:` field comments (none
    # here): 22 parses, 0.5-0.7 s of CPU at every process start (each CLI command, serve, worker). Skipped.
    def __new__(mcs, name, bases, attrs):  # noqa: N804 (tortoise's own signature)
        attrs.setdefault("_no_comments", True)
        return super().__new__(mcs, name, bases, attrs)


class Model(models.Model, metaclass=_Meta):
    class Meta:
        abstract = True


class Role(enum.StrEnum):
    REP = "rep"
    MANAGER = "manager"
    ADMIN = "admin"


class AppStatus(enum.StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"


class AppState(enum.StrEnum):
    """Whether an app is proven to work end to end (`bot.admin.app_verify`): `verified` when every check passed,
    `failing` when a check failed or the platform later answered "not live" (60020, 48002...), else `unverified`."""

    UNVERIFIED = "unverified"
    VERIFIED = "verified"
    FAILING = "failing"


class TokenScope(enum.StrEnum):
    """`admin`: the tenant's admin API (apps, users, rules) and its leads; `api`: lead intake and queries only."""

    ADMIN = "admin"
    API = "api"


class TimestampMixin:
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)


class Tenant(TimestampMixin, Model):
    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=128, unique=True)
    timezone = fields.CharField(max_length=64, default="Asia/Shanghai")
    active = fields.BooleanField(default=True)
    # Workflow, deadline, calendar and alert settings; validated by bot.admin.tenant_settings before they are stored.
    settings = fields.JSONField(default=dict)

    class Meta:
        table = "tenants"


class ApiToken(TimestampMixin, Model):
    """A bearer token for one tenant. Only its SHA-256 is stored; the token is shown once, at creation."""

    id = fields.IntField(primary_key=True)
    tenant: fields.ForeignKeyRelation[Tenant] = fields.ForeignKeyField("models.Tenant", related_name="tokens")
    name = fields.CharField(max_length=128)
    scope = fields.CharEnumField(TokenScope, max_length=16)
    token_sha256 = fields.CharField(max_length=64, unique=True)
    last_used_at = fields.DatetimeField(null=True)
    revoked_at = fields.DatetimeField(null=True)

    class Meta:
        table = "api_tokens"


class App(TimestampMixin, Model):
    """A registered bot app of one tenant on one platform."""

    id = fields.IntField(primary_key=True)
    tenant: fields.ForeignKeyRelation[Tenant] = fields.ForeignKeyField("models.Tenant", related_name="apps")
    platform = fields.CharField(max_length=16)
    name = fields.CharField(max_length=128)
    # "<tenant id>:<platform>:<the app's ids there>" (the credentials' `identity()`): a tenant's second registration
    # of the same app is refused; the tenant id in the value keeps one tenant from seeing or blocking another's
    # (`bot.admin.apps.identity_of`; migration 2).
    identity = fields.CharField(max_length=200, unique=True)
    status = fields.CharEnumField(AppStatus, max_length=16, default=AppStatus.ACTIVE)
    api_base = fields.CharField(max_length=512, null=True)
    # Non-secret credential fields (corp_id, agent_id, app_key, robot_code, mode...), shown by the API.
    public = fields.JSONField(default=dict)
    # Secret credential fields (secret, token, AES keys) as one sealed JSON object.
    secrets_sealed = fields.TextField()
    verified_at = fields.DatetimeField(null=True)
    state = fields.CharEnumField(AppState, max_length=16, default=AppState.UNVERIFIED)
    state_reason = fields.CharField(max_length=512, null=True)
    state_changed_at = fields.DatetimeField(null=True)
    # When the platform last reached us for this app (any accepted callback or stream frame): "never" tells an
    # admin the callback URL or receive mode is not set up.
    last_callback_at = fields.DatetimeField(null=True)

    class Meta:
        table = "apps"


class User(TimestampMixin, Model):
    id = fields.IntField(primary_key=True)
    tenant: fields.ForeignKeyRelation[Tenant] = fields.ForeignKeyField("models.Tenant", related_name="users")
    name = fields.CharField(max_length=128)
    role = fields.CharEnumField(Role, max_length=16, default=Role.REP)
    manager: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="reports", null=True, on_delete=fields.SET_NULL
    )
    # Their id on each chat platform (`bot.admin.platform_ids` reads and writes them).
    platform_ids: fields.ReverseRelation[UserPlatformId]
    phone = fields.CharField(max_length=20, null=True)  # E.164
    email = fields.CharField(max_length=254, null=True)
    region = fields.CharField(max_length=64, null=True)
    industries = fields.JSONField(default=list)
    active = fields.BooleanField(default=True)
    # Fields an admin set by hand (API, CLI, CSV import): directory sync leaves them alone and says so.
    hand_set = fields.JSONField(default=list)
    # Set when directory sync created or last matched this user: sync only deactivates people it brought in.
    synced_at = fields.DatetimeField(null=True)

    class Meta:
        table = "users"


class UserPlatformId(Model):
    """A person's user id on one chat platform, at most one per person and platform.

    `platform` is the platform's name (an app's `platform`). An id is unique per tenant and platform, as a
    platform's user ids are unique within one company."""

    id = fields.IntField(primary_key=True)
    # The user's tenant, repeated here so the database itself keeps an id unique within a tenant.
    tenant: fields.ForeignKeyRelation[Tenant] = fields.ForeignKeyField("models.Tenant", related_name="platform_ids")
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="platform_ids", on_delete=fields.CASCADE
    )
    platform = fields.CharField(max_length=16)
    platform_user_id = fields.CharField(max_length=64)

    class Meta:
        table = "user_platform_ids"
        unique_together = (("tenant", "platform", "platform_user_id"), ("user", "platform"))


class Lead(TimestampMixin, Model):
    """A sales lead. `version` rises by one on every accepted change (optimistic locking, card staleness);
    `audit_head` is the hash of its newest audit event, so a cut-off chain tail is detectable."""

    id = fields.BigIntField(primary_key=True)
    tenant: fields.ForeignKeyRelation[Tenant] = fields.ForeignKeyField("models.Tenant", related_name="leads")
    external_id = fields.CharField(max_length=128, null=True)
    company = fields.CharField(max_length=200, default="")
    contact_name = fields.CharField(max_length=100, default="")
    phone = fields.CharField(max_length=32, default="")
    email = fields.CharField(max_length=254, default="")
    source = fields.CharField(max_length=64, default="")
    region = fields.CharField(max_length=64, default="")
    industry = fields.CharField(max_length=64, default="")
    budget_min = fields.BigIntField(null=True)
    budget_max = fields.BigIntField(null=True)
    tags = fields.JSONField(default=list)
    intent = fields.CharField(max_length=16, null=True)
    priority = fields.SmallIntField(default=0)
    status = fields.CharField(max_length=16, default="pool", db_index=True)
    assignee: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="leads", null=True, on_delete=fields.SET_NULL
    )
    decision_maker = fields.CharField(max_length=100, null=True)
    contacts = fields.JSONField(default=list)
    evidence = fields.JSONField(default=list)
    history = fields.JSONField(default=list)
    competitors = fields.JSONField(default=list)
    tender_date = fields.DateField(null=True)
    assigned_at = fields.DatetimeField(null=True)
    contacted_at = fields.DatetimeField(null=True)
    closed_at = fields.DatetimeField(null=True)
    last_activity_at = fields.DatetimeField(null=True)
    lost_reason = fields.CharField(max_length=200, null=True)
    bounce_count = fields.SmallIntField(default=0)
    version = fields.IntField(default=0)
    audit_seq = fields.IntField(default=0)
    audit_head = fields.CharField(max_length=64, default="0" * 64)
    # The last per-lead sequence number given to an outbound webhook event (bot.webhooks): receivers order by it.
    webhook_seq = fields.IntField(default=0)

    class Meta:
        table = "leads"
        unique_together = (("tenant", "external_id"),)
        # (tenant, assignee, ...): besides the holder's leads, the board's count and ranking of the leads needing
        # attention read only this index, never the rows (bot.board.queries.needs_of): at 200 000 leads a team
        # holds tens of thousands.
        indexes = (("tenant", "status"), ("tenant", "assignee", "status", "bounce_count", "priority", "assigned_at",
                                          "last_activity_at", "id"))


class RepLoad(Model):
    """How many open leads each rep holds (assigned to them, not in the pool, not won or lost): routing's
    least-loaded choice reads this instead of counting leads. Kept by `bot.leads.store` in the transaction of every
    change of a lead's status or assignee (`bot.leads.open_counts`); `leadbot admin recount` rebuilds it from the
    leads."""

    user_id = fields.IntField(primary_key=True, generated=False)
    tenant_id = fields.IntField(db_index=True)
    open_leads = fields.IntField(default=0)

    class Meta:
        table = "rep_loads"


class BoardFact(Model):
    """One figure-making fact of a lead's history for the managers' board (a first contact with its working
    minutes, an advance with or without evidence, a lead left untouched 24 h, ...), with its time and the person it
    counts for. Kept by `bot.board.kept` in the transaction of every stage change of the lead (its facts are
    written anew from its events); the page sums them in SQL. `leadbot admin recount` rebuilds them."""

    id = fields.BigIntField(primary_key=True)
    tenant_id = fields.IntField()
    lead_id = fields.IntField(db_index=True)
    person_id = fields.IntField(null=True)
    kind = fields.CharField(max_length=16)
    tag = fields.CharField(max_length=16, default="")
    at = fields.DatetimeField()
    value = fields.FloatField(default=0.0)

    class Meta:
        table = "board_facts"
        # A team's (or one rep's) facts of a window are one index range each; the tenant's (an admin's) another.
        # Covering: the page's sums read the index only, never the table (SQLite; PostgreSQL once vacuumed).
        indexes = (("tenant_id", "person_id", "at", "kind", "tag", "value"),
                   ("tenant_id", "at", "kind", "tag", "value"))


class LeadEvent(Model):
    """One audited change, chained per lead: `hash = sha256(prev_hash, canonical(event))` (bot.leads.audit)."""

    id = fields.BigIntField(primary_key=True)
    tenant: fields.ForeignKeyRelation[Tenant] = fields.ForeignKeyField("models.Tenant", related_name="lead_events")
    lead: fields.ForeignKeyRelation[Lead] = fields.ForeignKeyField("models.Lead", related_name="events")
    seq = fields.IntField()
    at = fields.DatetimeField()
    actor_id = fields.IntField(null=True)
    actor_role = fields.CharField(max_length=16)
    source = fields.CharField(max_length=16)
    action = fields.CharField(max_length=32)
    before = fields.JSONField(default=dict)
    after = fields.JSONField(default=dict)
    evidence = fields.JSONField(default=list)
    reason = fields.TextField(default="")
    hash = fields.CharField(max_length=64)

    class Meta:
        table = "lead_events"
        unique_together = (("lead", "seq"),)
        # The board reads a tenant's events by time (bot.board.queries).
        indexes = (("tenant", "at"),)


class CardInstance(TimestampMixin, Model):
    """A card we sent to one person, kept so it can be updated in place when its lead changes.

    On a platform whose updates spend a single-use `response_code` (from the send, then one per click), when none
    is usable the card is replaced by a fresh one; other platforms update by `card_id` alone.
    """

    id = fields.BigIntField(primary_key=True)
    tenant: fields.ForeignKeyRelation[Tenant] = fields.ForeignKeyField("models.Tenant", related_name="cards")
    app: fields.ForeignKeyRelation[App] = fields.ForeignKeyField("models.App", related_name="cards")
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField("models.User", related_name="cards")
    kind = fields.CharField(max_length=24)
    # What the card shows: a lead id, a voice note id or an alert id, depending on `kind`.
    subject_id = fields.BigIntField()
    card_id = fields.CharField(max_length=128)
    recipient = fields.CharField(max_length=64)  # the platform user id it was sent to
    version = fields.IntField(default=0)  # the subject's version it shows
    response_code = fields.CharField(max_length=512, null=True)
    code_expires_at = fields.DatetimeField(null=True)
    # The code last spent on an update, written before the call, and the version that update carried. A crash
    # between the platform's answer and ours leaves `spent_version` above `version`: the next update tries that
    # code again, and the platform's "code used" then means the crashed call went through (not a fresh card).
    spent_code = fields.CharField(max_length=512, null=True)
    spent_version = fields.IntField(null=True)
    live = fields.BooleanField(default=True)

    class Meta:
        table = "card_instances"
        unique_together = (("app", "card_id"),)
        indexes = (("kind", "subject_id", "live"),)


class Outbox(Model):
    """Work to do after a commit, written in the same transaction as the change that caused it.

    A change is committed with its follow-ups (send a card, notify someone, re-render cards...) or not at all;
    a job carries them out and marks them done, and a sweeper re-queues any that a crash left pending.
    """

    id = fields.BigIntField(primary_key=True)
    tenant_id = fields.IntField()
    lead_id = fields.BigIntField(null=True)
    kind = fields.CharField(max_length=32)
    payload = fields.JSONField(default=dict)
    created_at = fields.DatetimeField(auto_now_add=True)
    done_at = fields.DatetimeField(null=True, db_index=True)
    # A runner claims a row until this time; a crashed runner's claim lapses and the sweeper hands it on. The
    # claimer (bot.runtime.worker_heartbeat.worker_id) lets the reclaimer hand it on as soon as that worker is dead.
    claimed_until = fields.DatetimeField(null=True)
    claimed_by = fields.CharField(max_length=128, null=True)
    attempts = fields.IntField(default=0)
    last_error = fields.TextField(null=True)
    gave_up = fields.BooleanField(default=False)  # done_at is set, but it never succeeded

    class Meta:
        table = "outbox"


class RoutingRule(TimestampMixin, Model):
    id = fields.IntField(primary_key=True)
    tenant: fields.ForeignKeyRelation[Tenant] = fields.ForeignKeyField("models.Tenant", related_name="rules")
    position = fields.IntField(default=0)
    name = fields.CharField(max_length=128)
    enabled = fields.BooleanField(default=True)
    # bot.leads.routing's rule fields (match, strategy, candidates...), validated by the admin API before storing.
    spec = fields.JSONField(default=dict)
    cursor = fields.IntField(null=True)  # round robin: the rep who got the last lead

    class Meta:
        table = "routing_rules"


class Deadline(TimestampMixin, Model):
    """A timer kept in the database (the source of truth); Redis holds a deferred job for it, re-armed on start.

    `fence` is the lead version that armed it: a run whose fence no longer matches does nothing.
    """

    id = fields.BigIntField(primary_key=True)
    tenant_id = fields.IntField()
    lead: fields.ForeignKeyRelation[Lead] = fields.ForeignKeyField("models.Lead", related_name="deadlines")
    kind = fields.CharField(max_length=24)
    due_at = fields.DatetimeField(db_index=True)
    fence = fields.IntField()
    step = fields.IntField(default=0)
    # The escalation ladder frozen when the lock started (steps, delays, targets).
    plan = fields.JSONField(default=dict)
    state = fields.CharField(max_length=16, default="pending", db_index=True)
    # When the next step runs (the deferred job's time); the auditor re-arms pending rows from this.
    next_at = fields.DatetimeField(null=True)
    # The steps run so far: [{"step", "action", "due", "at"}], one entry per step, appended by the run that claimed it.
    history = fields.JSONField(default=list)

    class Meta:
        table = "deadlines"
        unique_together = (("lead", "kind"),)
        indexes = (("state", "next_at"),)


class VoiceNote(TimestampMixin, Model):
    id = fields.BigIntField(primary_key=True)
    tenant: fields.ForeignKeyRelation[Tenant] = fields.ForeignKeyField("models.Tenant", related_name="voice_notes")
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField("models.User", related_name="voice_notes")
    lead: fields.ForeignKeyNullableRelation[Lead] = fields.ForeignKeyField(
        "models.Lead", related_name="voice_notes", null=True, on_delete=fields.SET_NULL
    )
    audio_sha256 = fields.CharField(max_length=64)
    duration_s = fields.FloatField()
    transcript = fields.TextField(default="")
    platform_text = fields.TextField(null=True)  # the platform's own recognition, when it gives one
    fields_json = fields.JSONField(default=dict)
    model = fields.CharField(max_length=128, default="")
    elapsed_s = fields.FloatField(default=0.0)
    rtf = fields.FloatField(default=0.0)
    version = fields.IntField(default=0)
    confirmed = fields.BooleanField(default=False)

    class Meta:
        table = "voice_notes"
        unique_together = (("tenant", "audio_sha256"),)


class Alert(TimestampMixin, Model):
    """Something a person must hear about, sent through the channel chain (chat -> SMS -> e-mail)."""

    id = fields.BigIntField(primary_key=True)
    tenant_id = fields.IntField()
    lead_id = fields.BigIntField(null=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField("models.User", related_name="alerts")
    kind = fields.CharField(max_length=32)
    text = fields.TextField()
    # A stable key so a retried job cannot raise the same alert twice.
    dedup_key = fields.CharField(max_length=128, unique=True)
    state = fields.CharField(max_length=16, default="pending", db_index=True)
    channel_index = fields.SmallIntField(default=0)
    acked_at = fields.DatetimeField(null=True)
    # A random salt sealed into the e-mail ack link; the link is checked against it (bot.alerting.alerts).
    ack_token = fields.CharField(max_length=64, null=True)
    acked_by = fields.IntField(null=True)
    ack_via = fields.CharField(max_length=16, null=True)  # card | email | ...
    # The channel chain and ack timeouts frozen when the alert was raised, its headline, and what makes it moot.
    plan = fields.JSONField(default=dict)
    # When to act next: the ack timeout's end (waiting), a send's lease end (sending), creation (pending).
    next_at = fields.DatetimeField(null=True)

    class Meta:
        table = "alerts"
        indexes = (("state", "next_at"),)


class Delivery(Model):
    """One attempt to reach a person on one channel: every attempt is on record."""

    id = fields.BigIntField(primary_key=True)
    tenant_id = fields.IntField()
    alert_id = fields.BigIntField(null=True, db_index=True)
    lead_id = fields.BigIntField(null=True, db_index=True)
    user_id = fields.IntField(null=True)
    channel = fields.CharField(max_length=16)
    provider = fields.CharField(max_length=32)
    address = fields.CharField(max_length=128, default="")  # masked
    request_id = fields.CharField(max_length=128, null=True)
    code = fields.CharField(max_length=64, null=True)
    detail = fields.TextField(default="")
    latency_ms = fields.FloatField(default=0.0)
    outcome = fields.CharField(max_length=16)
    at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "deliveries"


class DeliveryState(enum.StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD = "dead"  # retried for the whole window without success; `leadbot webhooks redeliver` replays it


class WebhookSubscription(TimestampMixin, Model):
    """A tenant's CRM endpoint: the events it wants, and the secret its requests are signed with (sealed)."""

    id = fields.IntField(primary_key=True)
    tenant: fields.ForeignKeyRelation[Tenant] = fields.ForeignKeyField("models.Tenant", related_name="webhooks")
    url = fields.CharField(max_length=2048)
    description = fields.CharField(max_length=200, default="")
    event_types = fields.JSONField(default=list)  # event type names, or ["*"] for every type
    secret_sealed = fields.TextField()
    enabled = fields.BooleanField(default=True)
    disabled_reason = fields.CharField(max_length=200, null=True)
    # Set by the first failed attempt after a success; a subscription failing for a day is disabled.
    failing_since = fields.DatetimeField(null=True)
    last_success_at = fields.DatetimeField(null=True)

    class Meta:
        table = "webhook_subscriptions"


class WebhookEvent(Model):
    """Something that happened to a tenant's lead (or alert), written in the transaction that made it happen.

    `event_id` is the stable id receivers de-duplicate on; `seq` orders one lead's events (None: not a lead's).
    """

    id = fields.BigIntField(primary_key=True)
    event_id = fields.CharField(max_length=40, unique=True)
    tenant_id = fields.IntField()
    lead_id = fields.BigIntField(null=True)
    seq = fields.IntField(null=True)
    type = fields.CharField(max_length=48)
    payload = fields.JSONField(default=dict)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "webhook_events"
        indexes = (("tenant_id", "created_at"),)


class WebhookDelivery(Model):
    """One event on its way to one subscription: the transactional outbox of the webhooks.

    A later event of a lead waits until the earlier ones to the same subscription are no longer pending.
    """

    id = fields.BigIntField(primary_key=True)
    event: fields.ForeignKeyRelation[WebhookEvent] = fields.ForeignKeyField(
        "models.WebhookEvent", related_name="deliveries", on_delete=fields.CASCADE)
    subscription: fields.ForeignKeyRelation[WebhookSubscription] = fields.ForeignKeyField(
        "models.WebhookSubscription", related_name="deliveries", on_delete=fields.CASCADE)
    tenant_id = fields.IntField()
    lead_id = fields.BigIntField(null=True)
    seq = fields.IntField(null=True)
    state = fields.CharEnumField(DeliveryState, max_length=16, default=DeliveryState.PENDING)
    attempts = fields.IntField(default=0)
    next_attempt_at = fields.DatetimeField()
    # Retries run for a fixed window from here: the event's creation, or the moment it was redelivered.
    window_started_at = fields.DatetimeField()
    # A dispatcher claims a row while it sends; a crashed dispatcher's claim lapses and another one sends it.
    claimed_until = fields.DatetimeField(null=True)
    claim_token = fields.CharField(max_length=32, null=True)  # which claim (one UPDATE claims a batch of rows)
    delivered_at = fields.DatetimeField(null=True)
    last_status = fields.IntField(null=True)
    last_error = fields.TextField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "webhook_deliveries"
        unique_together = (("event", "subscription"),)
        indexes = (("state", "next_attempt_at"), ("subscription", "lead_id", "seq"))


class WebhookAttempt(Model):
    """One HTTP attempt of a delivery, whatever came of it: every attempt is on record."""

    id = fields.BigIntField(primary_key=True)
    delivery: fields.ForeignKeyRelation[WebhookDelivery] = fields.ForeignKeyField(
        "models.WebhookDelivery", related_name="attempt_rows", on_delete=fields.CASCADE)
    tenant_id = fields.IntField()
    subscription_id = fields.IntField()
    event_id = fields.CharField(max_length=40)
    event_type = fields.CharField(max_length=48)
    url = fields.CharField(max_length=2048)
    attempt = fields.IntField()
    status_code = fields.IntField(null=True)
    # delivered | http_error | timeout | network | refused (the URL or a redirect broke the address rule)
    outcome = fields.CharField(max_length=16)
    latency_ms = fields.FloatField(default=0.0)
    error = fields.TextField(default="")
    response_excerpt = fields.TextField(default="")
    at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "webhook_attempts"
        indexes = (("subscription_id", "id"),)


class HolidayYear(Model):
    """A year's official schedule of public holidays and make-up workdays (调休), as the State Council announces
    it late in the year before: loaded by an admin (`leadbot holidays load`), it wins over the bundled package."""

    year = fields.IntField(primary_key=True)
    holidays = fields.JSONField(default=list)  # ISO dates: days off that would be working days
    workdays = fields.JSONField(default=list)  # ISO dates: weekend days worked (调休)
    source = fields.CharField(max_length=256, default="")  # e.g. the notice's number
    loaded_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "holiday_years"


class AdminEvent(Model):
    """A change an admin made through the console (apps, people, rules, settings, webhooks): who, what, to what.

    `actor` says which admin, in a form that stays meaningful after a token is revoked or a person renamed:
    `operator`, `token:<id>` or `user:<id>`, with the name they had (`actor_name`). `at` is the services' clock.
    Secrets never go into `detail`.
    """

    id = fields.BigIntField(primary_key=True)
    tenant_id = fields.IntField()
    at = fields.DatetimeField()
    actor = fields.CharField(max_length=32)
    actor_name = fields.CharField(max_length=128, default="")
    via = fields.CharField(max_length=16, default="console")
    action = fields.CharField(max_length=64)
    subject = fields.CharField(max_length=200, default="")
    detail = fields.JSONField(default=dict)

    class Meta:
        table = "admin_events"
        indexes = (("tenant_id", "at"),)
