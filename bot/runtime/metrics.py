"""Prometheus metrics, defined once here so names stay consistent across the web process and workers.

The web process serves them at `/metrics`; a separate `leadbot worker` serves its own on `--metrics-port`.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

_LATENCY_BUCKETS_S = (0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

HTTP_REQUESTS = Counter(
    "leadbot_http_requests_total", "HTTP requests answered", ["route", "method", "status"]
)
HTTP_LATENCY = Histogram(
    "leadbot_http_request_duration_seconds", "Time to answer an HTTP request", ["route", "method"],
    buckets=_LATENCY_BUCKETS_S,
)
CALLBACKS = Counter(
    "leadbot_callbacks_total", "Platform callbacks by outcome (queued, duplicate, rejected reasons)",
    ["platform", "outcome"],
)
QUEUE_DEPTH = Gauge("leadbot_queue_depth", "Jobs due and not yet started")
JOBS = Counter("leadbot_jobs_total", "Jobs finished by outcome", ["function", "outcome"])
JOB_LATENCY = Histogram(
    "leadbot_job_duration_seconds", "Job run time", ["function"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
HOLIDAY_SCHEDULE_MISSING = Gauge(
    "leadbot_holiday_schedule_missing", "1 when a year's official holiday schedule is needed (this year; the next one "
    "from 1 November) and not known: deadlines would count its holidays as working days", ["year"])
TOKEN_REFRESHES = Counter("leadbot_token_refreshes_total", "Access tokens fetched from a platform", ["platform"])

# Voice notes (bot.voice, bot.jobs.voice). Workers set the backlog when they queue or start a transcription, so
# the figure is served by the process running the worker (`leadbot serve`, or `leadbot worker --metrics-port`).
SPEECH_QUEUE_DEPTH = Gauge("leadbot_speech_queue_depth", "transcribe_voice jobs due and not yet started")
SPEECH_RTF = Histogram(
    "leadbot_speech_real_time_factor", "Transcription time over audio duration, per voice note",
    buckets=(0.02, 0.04, 0.06, 0.08, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0, 2.0),
)
VOICE_NOTES = Counter(
    "leadbot_voice_notes_total",
    "Voice messages by outcome (attached, pick_lead, no_lead, repeated, no_speech, too_long, not_audio, "
    "download_failed, failed, unknown_sender)",
    ["outcome"],
)
VOICE_PLATFORM_TEXT = Counter(
    "leadbot_voice_platform_text_total", "Voice notes made from the platform's own recognition (fallback)"
)

# Escalation and alerts (bot.alerting.deadlines, bot.alerting.alerts)
ESCALATIONS = Counter("leadbot_escalations_total", "Response-lock escalation steps run, by step", ["step"])
ALERT_FALLBACKS = Counter(
    "leadbot_alert_fallbacks_total", "Alerts moved past a channel, by channel and reason (timeout, refused, "
    "http_error, no_address, not_configured, no_ack...)", ["channel", "reason"],
)
TIME_TO_CONTACT = Histogram(
    "leadbot_time_to_contact_seconds", "From assignment to 已联系 (wall-clock), for leads contacted under a lock",
    buckets=(60, 300, 900, 1800, 3600, 2 * 3600, 4 * 3600, 8 * 3600, 86400, 3 * 86400, 7 * 86400),
)
TIMER_LATENESS = Histogram(
    "leadbot_timer_lateness_seconds", "How late a response-lock step ran after its planned time",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 15, 60, 300),
)

# Quotas (bot.runtime.quotas): requests refused for a tenant's quota, and de-duplication memory given up to stay in
# bounds.
QUOTA_REFUSALS = Counter(
    "leadbot_quota_refusals_total", "Requests refused by a per-tenant quota (callbacks, api_calls, "
    "webhook_subscriptions, webhook_replays)", ["quota"],
)
DEDUP_FORGOTTEN = Counter(
    "leadbot_dedup_forgotten_total", "Delivery ids forgotten before their time because an app reached "
    "LEADBOT_DEDUP_MAX_PER_APP (its oldest first)", ["platform"],
)

# App health (bot.admin.app_health): every platform errcode, and each app's verified/failing/unverified state.
PLATFORM_ERRORS = Counter(
    "leadbot_platform_errors_total", "Errors the chat platforms answered, by platform and errcode",
    ["platform", "errcode"],
)
APP_STATE = Gauge(
    "leadbot_app_state", "1 for an app's current state (verified, failing, unverified), 0 for the others",
    ["app", "platform", "state"],
)
