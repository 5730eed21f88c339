"""Stopping `serve` and `worker` on SIGTERM/SIGINT — and making sure they do stop.

A graceful stop lets running jobs and webhook sends finish, then closes Redis and the database. Should any of that
hang (a connection pool waiting for a connection nobody releases, a thread that never returns), a supervisor would
have to SIGKILL the process, and a test harness might never notice and leave it running. So once the stop signal
has come, a watchdog thread gives the graceful stop `deadline_s`: past that, or at a second signal, it writes every
thread's stack to stderr and ends the process with status 1. Nothing is lost by cutting it short: jobs held by a
dead worker are taken back by the reclaimer and webhook claims lapse.
"""

from __future__ import annotations

import asyncio
import faulthandler
import logging
import os
import signal
import sys
import threading
import time

log = logging.getLogger(__name__)

STOP_DEADLINE_S = 20.0
SIGNALS = (signal.SIGINT, signal.SIGTERM)


async def until_signalled(deadline_s: float = STOP_DEADLINE_S) -> None:
    """Return at the first SIGINT/SIGTERM, with the watchdog armed for the stop that follows."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in SIGNALS:
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("stopping (at most %.0f s)", deadline_s)
    # A thread that sleeps, not a threading.Timer: a Timer waits on a lock with a timeout, which never returns under
    # libfaketime (CI runs the suite at a faked instant); a plain sleep works everywhere. Daemon: it must not itself
    # keep a finished process alive.
    threading.Thread(target=_watch, args=(deadline_s,), name="stop-watchdog", daemon=True).start()
    for sig in SIGNALS:
        loop.add_signal_handler(sig, give_up, "a second stop signal")


def _watch(deadline_s: float) -> None:
    time.sleep(deadline_s)
    give_up(f"still stopping after {deadline_s:.0f} s")


def give_up(why: str) -> None:
    """Dump every thread's stack (what the stop was stuck on) and exit at once."""
    log.error("%s: exiting without finishing the stop", why)
    for handler in logging.getLogger().handlers:
        handler.flush()
    faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
    sys.stderr.flush()
    os._exit(1)
