"""The process's speech engine and the transcription backlog (slow: loads the real model once)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from arq import Retry
from arq.constants import in_progress_key_prefix
from prometheus_client import REGISTRY

from bot.errors import ConfigError
from bot.jobs.voice import JOB_PREFIX, speech_backlog
from bot.platforms.base import Inbound, InboundKind
from bot.runtime import metrics
from bot.runtime.config import Settings
from bot.runtime.services import Services
from bot.voice import hearing
from bot.voice.engine import Busy, engine_for, preload
from bot.voice.hearing import Attempt
from speech.lexicon import Lexicon
from tests.voice.conftest import VOICE

pytestmark = pytest.mark.slow
D02 = (VOICE / "d02.amr").read_bytes()
MESSAGE = Inbound(platform="wecom", kind=InboundKind.VOICE, sender="rep1", created_at=0, dedup_key="m1")


def test_one_model_per_process_whatever_the_data_dir(settings: Settings, tmp_path) -> None:
    elsewhere = settings.model_copy(update={"data_dir": tmp_path / "other"})
    assert engine_for(elsewhere) is engine_for(settings)
    assert engine_for(settings).load(settings) is engine_for(elsewhere).load(elsewhere)
    assert engine_for(settings.model_copy(update={"speech_concurrency": 2})) is not engine_for(settings)


async def test_a_model_setting_that_names_no_model_stops_the_worker_as_a_config_error(settings: Settings,
                                                                                     tmp_path: Path) -> None:
    wrong = settings.model_copy(update={"whisper_model": str(tmp_path / "nope")})
    with pytest.raises(ConfigError, match="LEADBOT_WHISPER_MODEL"):
        await preload(wrong)


async def test_a_busy_process_sends_the_job_back_to_the_queue(settings: Settings, monkeypatch) -> None:
    engine = engine_for(settings)
    monkeypatch.setattr(hearing, "SLOT_WAIT_S", 0.05)
    async with engine.slot():  # another voice note is being transcribed
        with pytest.raises(Busy):
            async with engine.slot(0.05):
                pass
        with pytest.raises(Retry):
            await hearing.transcribe(settings, Lexicon.default(), "k", D02, MESSAGE, Attempt(1, 8))


async def test_the_last_try_waits_for_a_slot_instead(settings: Settings, monkeypatch) -> None:
    engine = engine_for(settings)
    monkeypatch.setattr(hearing, "SLOT_WAIT_S", 0.05)
    taken, release = asyncio.Event(), asyncio.Event()

    async def another_note() -> None:
        async with engine.slot():
            taken.set()
            await release.wait()

    holder = asyncio.create_task(another_note())
    await taken.wait()
    task = asyncio.create_task(hearing.transcribe(settings, Lexicon.default(), "k", D02, MESSAGE, Attempt(8, 8)))
    await asyncio.sleep(0.2)  # far past SLOT_WAIT_S: an earlier try would have given up by now
    assert not task.done()
    before = REGISTRY.get_sample_value("leadbot_speech_real_time_factor_count") or 0
    release.set()
    heard = await task
    await holder
    assert "采购总监" in heard.transcript and heard.model == "whisper-base"
    assert REGISTRY.get_sample_value("leadbot_speech_real_time_factor_count") == before + 1


async def test_the_backlog_counts_due_transcriptions_only(services: Services) -> None:
    queue = services.queue
    await queue.enqueue("transcribe_voice", job_id=JOB_PREFIX + "a", app_id=1, inbound={})
    await queue.enqueue("transcribe_voice", job_id=JOB_PREFIX + "b", app_id=1, inbound={})
    await queue.enqueue("transcribe_voice", job_id=JOB_PREFIX + "later", defer_until_s=4e9, app_id=1, inbound={})
    await queue.enqueue("handle_inbound", job_id="click-1", app_id=1, inbound={})
    assert await speech_backlog(services) == 2
    await services.redis.set(in_progress_key_prefix + JOB_PREFIX + "a", b"1")  # a worker has started it
    assert await speech_backlog(services) == 1


async def test_metrics_are_served(client) -> None:
    metrics.SPEECH_QUEUE_DEPTH.set(3)
    text = await (await client.get("/metrics")).text()
    assert "leadbot_speech_queue_depth 3.0" in text
    assert "leadbot_speech_real_time_factor_bucket" in text
    assert "# TYPE leadbot_voice_notes_total counter" in text


def test_web_processes_do_not_load_the_speech_libraries() -> None:
    """`leadbot serve --no-worker` imports the app and the worker module: neither may pull in the model's
    libraries (faster-whisper, PyAV, numpy) or the extractor's (jieba, pypinyin), ~100 MB the web does not need."""
    import subprocess
    import sys

    heavy = ["faster_whisper", "av", "numpy", "jieba", "pypinyin", "ctranslate2"]
    code = f"import sys, bot.runtime.app, bot.runtime.worker, handlers.lexicon; print([m for m in {heavy!r} if m in sys.modules])"
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(root)})
    assert out.stdout.strip() == "[]"
