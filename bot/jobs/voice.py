"""Voice messages: the VOICE inbound handler queues `transcribe_voice`, which turns the message into a note.

Transcription is its own job so the inbound job stays fast, and so it has its own timeout and tries. Its job id
is derived from the delivery and starts with `voice:`, which is how the backlog gauge counts these jobs.

A try may crash anywhere and run again. The note, keyed on the audio's sha256 and unique per tenant, is the
checkpoint: a try that finds it stored skips transcription and only finishes what is missing (attach, card).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from arq import Retry
from arq.constants import in_progress_key_prefix

from bot.admin.apps import LoadedApp
from bot.chat import clicks
from bot.errors import RateLimited, TransientError
from bot.jobs import job
from bot.jobs import services as services_of
from bot.platforms.base import Inbound
from bot.runtime import metrics
from bot.runtime.queue import job_id_for
from bot.runtime.services import Services
from bot.voice import hearing, lexicons, notes
from bot.voice.hearing import Attempt, Heard, Refused
from bot.voice.revise import fill_gaps
from speech.errors import SpeechError
from speech.fields import Fields
from speech.lexicon import Lexicon
from storage import redis_keys
from storage.models import User
from storage.models import VoiceNote as NoteRow

log = logging.getLogger(__name__)

JOB_PREFIX = "voice:"
# Five minutes, the default job timeout: a 60 s note takes seconds, and longer would not help a stuck model. (A job
# whose worker was killed is taken back at once by `bot.jobs.reclaim`, whatever the timeouts.)
TIMEOUT_S = 300
MAX_TRIES = 8
STRANGER = "你还不是线索助手的用户，请联系管理员开通后再发送语音。"
REPEATED = "这条语音之前已经记录过了。"


def voice_job_id(app: LoadedApp, message: Inbound) -> str:
    return JOB_PREFIX + job_id_for(redis_keys.dedup(app.platform, app.id, message.dedup_key))


async def speech_backlog(services: Services) -> int:
    """transcribe_voice jobs due and not started (deferred retries count once they are due). arq keeps a running
    job in the queue until it ends, so those with an in-progress mark are left out."""
    redis = services.redis
    now_ms = services.clock.time() * 1000
    due = [job_id async for job_id, score in redis.zscan_iter(services.queue.queue_name, match=JOB_PREFIX + "*")
           if score <= now_ms]
    if not due:
        return 0
    running = await redis.exists(*(in_progress_key_prefix + _text(job_id) for job_id in due))
    return len(due) - running


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


async def _gauge(services: Services) -> None:
    try:
        metrics.SPEECH_QUEUE_DEPTH.set(await speech_backlog(services))
    except Exception as e:  # a metric is never worth failing a voice note for
        log.warning("speech backlog not measured: %s", e)


async def on_voice(ctx: dict[str, Any], app_id: int, message: Inbound) -> None:
    services = services_of(ctx)
    app = await services.apps.require(app_id)
    if await clicks.find_user(app, message.sender) is None:
        metrics.VOICE_NOTES.labels("unknown_sender").inc()
        await notes.tell(services, app, message.sender, await clicks.stranger_text(app, message.sender, STRANGER))
        return
    await services.queue.enqueue("transcribe_voice", job_id=voice_job_id(app, message), app_id=app_id,
                                 inbound=message.to_dict())
    await _gauge(services)


@job(timeout_s=TIMEOUT_S, max_tries=MAX_TRIES)
async def transcribe_voice(ctx: dict[str, Any], app_id: int, inbound: dict[str, Any]) -> None:
    services = services_of(ctx)
    await _gauge(services)
    message = Inbound.from_dict(inbound)
    app = await services.apps.get(app_id)
    user = await clicks.find_user(app, message.sender) if app is not None and app.active else None
    if app is None or user is None:
        log.info("voice message on app %d dropped: the app or the sender is gone", app_id)
        return
    attempt = Attempt(int(ctx.get("job_try") or 1), MAX_TRIES)
    try:
        outcome = await _make_note(services, app, user, message, attempt)
    except Refused as e:
        outcome = e.outcome
        await notes.tell(services, app, message.sender, e.rep_message)
    except (TransientError, RateLimited) as e:
        # The platform failed a call (a card, a lead follow-up): the next try resumes from the stored note.
        if not attempt.final:
            log.warning("voice message on app %d: %s; trying again", app_id, e)
            raise Retry(defer=getattr(e, "retry_after_s", 0) or 2**attempt.number) from e
        log.error("voice message on app %d given up after %d tries: %s", app_id, attempt.number, e)
        outcome = "failed"
        await notes.tell(services, app, message.sender, SpeechError.rep_message)
    metrics.VOICE_NOTES.labels(outcome).inc()
    log.info("voice message on app %d from user %d: %s", app_id, user.id, outcome)


def sent_at(message: Inbound, now: datetime) -> datetime:
    """When the platform says the message was sent, else `now` (when we handle it)."""
    return datetime.fromtimestamp(message.created_at, UTC) if message.created_at > 0 else now


async def _make_note(services: Services, app: LoadedApp, user: User, message: Inbound, attempt: Attempt) -> str:
    hearing.check_length(message)
    adapter = services.adapters.get(services, app)
    audio = await hearing.fetch_audio(adapter, message, attempt)
    key = hearing.audio_key(audio) if audio is not None else hearing.message_key(app.id, message)
    via = (app, message.sender)
    row = await NoteRow.get_or_none(tenant_id=app.tenant_id, audio_sha256=key)
    if row is not None:
        return await _resume(services, via, user, row, message, attempt)
    lexicon = await lexicons.tenant_lexicon(app.tenant_id)
    if audio is None:
        heard = hearing.from_platform(key, message)
    else:
        heard = await hearing.transcribe(services.settings, lexicon, key, audio, message, attempt)
    row = await notes.create(user, heard, _fields(heard, lexicon, sent_at(message, services.clock.now())))
    return await notes.deliver(services, via, user, row, sent_at(message, services.clock.now()))


def _fields(heard: Heard, lexicon: Lexicon, at: datetime) -> Fields:
    from speech.extract import get_extractor  # jieba and pypinyin: only in processes that run voice jobs

    extractor = get_extractor(lexicon)
    fields = extractor.extract(heard.transcript, at)
    if heard.platform_text and heard.platform_text != heard.transcript:
        fields = fill_gaps(fields, extractor.extract(heard.platform_text, at))
    return fields


async def _resume(services: Services, via: tuple[LoadedApp, str], user: User, row: NoteRow, message: Inbound,
                  attempt: Attempt) -> str:
    """The note is stored: finish what a crashed try left, or tell the rep they sent this audio before."""
    if row.user_id == user.id and not await notes.cards_of(row, live_only=False):
        return await notes.deliver(services, via, user, row, sent_at(message, services.clock.now()))
    if attempt.number == 1:  # a new delivery of audio already on file, not a retry of this one
        await notes.tell(services, via[0], via[1], REPEATED)
    return "repeated"


FUNCTIONS = [transcribe_voice]
