"""Whether each app is live, as the service learns it: by `verify` (every check) and by the platform's own later
answers. A call refused with a "not live" answer (an untrusted caller IP, an API the app may not call, no
privilege on the person, an invalid agent or robot: each platform's `errors.not_live_reason` decides) flips the
app to `failing` with the reason, shown by the admin API, `/readyz` and `leadbot_app_state`; every errcode is
counted in `leadbot_platform_errors_total{platform,errcode}`.
"""

from __future__ import annotations

import logging
from datetime import datetime

from bot.runtime import metrics
from bot.runtime.clock import Clock
from storage.models import App, AppState

log = logging.getLogger(__name__)


async def set_state(app_id: int, state: AppState, reason: str | None, *, now: datetime, verified: bool = False) -> None:
    changes: dict = {"state": state, "state_reason": reason[:500] if reason else None, "state_changed_at": now}
    if verified:
        changes["verified_at"] = now
    elif state is not AppState.VERIFIED:
        changes["verified_at"] = None
    await App.filter(id=app_id).update(**changes)


async def mark_failing(app_id: int, reason: str, *, now: datetime) -> None:
    """Flip an app to failing; one failing already keeps its first reason (the cause, not an echo of it)."""
    updated = await App.filter(id=app_id).exclude(state=AppState.FAILING).update(
        state=AppState.FAILING, state_reason=reason[:500], state_changed_at=now, verified_at=None)
    if updated:
        log.warning("app %d is now failing: %s", app_id, reason)


async def platform_error(clock: Clock, app_id: int, platform: str, errcode: str, not_live: str | None) -> None:
    """The adapters' error hook. Never raises: the caller is on its way to raise the platform's error."""
    metrics.PLATFORM_ERRORS.labels(platform, errcode[:64]).inc()
    if not_live is None:
        return
    try:
        await mark_failing(app_id, not_live, now=clock.now())
    except Exception as e:  # the database being away must not hide the platform's error from the caller
        log.warning("app %d: could not record its failing state: %s", app_id, type(e).__name__)


async def observe_states() -> None:
    """`leadbot_app_state{app,platform,state}`: 1 for each app's current state (read from the database that every
    process shares), 0 for the others."""
    for row in await App.all().values("id", "platform", "state"):
        for state in AppState:
            metrics.APP_STATE.labels(str(row["id"]), row["platform"], state.value).set(
                1 if str(row["state"]) == state.value else 0)
