"""Directory sync on a schedule: once a day at `LEADBOT_DIRECTORY_SYNC_HOUR` (Beijing time, 0-23; unset: never,
the default), every active app's tenant is synced from its platform directory (`bot.admin.directory`), applied."""

from __future__ import annotations

import logging
from typing import Any
from zoneinfo import ZoneInfo

from arq import cron

from bot.admin import directory
from bot.errors import PlatformError
from bot.jobs import job, services
from storage.models import App, AppStatus

log = logging.getLogger(__name__)
_ZONE = ZoneInfo("Asia/Shanghai")


@job(timeout_s=1800, quiet=True)
async def sync_directories(ctx: dict[str, Any]) -> None:
    s = services(ctx)
    hour = s.settings.directory_sync_hour
    now = s.clock.now()
    if hour is None or now.astimezone(_ZONE).hour != hour:
        return
    for app_id in await App.filter(status=AppStatus.ACTIVE).order_by("id").values_list("id", flat=True):
        app = await s.apps.get(app_id)
        if app is None or not app.active:
            continue
        try:
            await directory.sync(s, app, dry_run=False, now=now)
        except PlatformError as e:  # one app's refusal (no directory permission) must not stop the others
            log.warning("scheduled directory sync of app %d refused: errcode=%s", app_id, e.errcode)


# Once an hour (the job itself checks the configured hour); unique: one worker runs it.
CRON_JOBS = [cron(sync_directories.coroutine, name="sync_directories", minute=7, second=0, unique=True,
                  timeout=1800)]
