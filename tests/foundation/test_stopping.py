"""A stop that hangs is cut short: the process ends with status 1 and says where it was stuck, instead of living on
until someone SIGKILLs it."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time

import pytest

pytestmark = pytest.mark.slow

# A service whose stop hangs: after the signal it blocks the event loop (as a stuck close would).
HANGING_STOP = textwrap.dedent("""
    import asyncio, sys, time
    from bot.runtime.stopping import until_signalled

    def stuck_in_close():
        time.sleep(120)

    async def main():
        print("ready", flush=True)
        await until_signalled(deadline_s=float(sys.argv[1]))
        if sys.argv[2] == "block":
            stuck_in_close()
        else:
            await asyncio.sleep(120)
        print("stopped cleanly", flush=True)

    asyncio.run(main())
""")


def _start(deadline_s: float, how: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", HANGING_STOP, str(deadline_s), how], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    time.sleep(0.2)  # the handlers are installed right after "ready"
    return proc


def test_a_stop_that_hangs_past_the_deadline_ends_with_the_stuck_stack() -> None:
    proc = _start(1.0, "block")
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert "stopped cleanly" not in out
    assert "still stopping after 1 s" in err
    assert "stuck_in_close" in err  # the stack of the main thread shows what the stop was stuck on


def test_a_second_signal_ends_a_slow_stop_at_once() -> None:
    proc = _start(600.0, "await")
    proc.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    assert proc.poll() is None  # still in its graceful stop: the deadline is far off
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert "a second stop signal" in err and "stopped cleanly" not in out


def test_a_stop_that_finishes_in_time_is_not_cut_short() -> None:
    script = HANGING_STOP.replace("asyncio.sleep(120)", "asyncio.sleep(0.1)")
    proc = subprocess.Popen([sys.executable, "-c", script, "30", "await"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert (proc.returncode, out) == (0, "stopped cleanly\n"), err
