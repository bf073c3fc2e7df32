"""The stop's clock: what is left of GATEWAY_SHUTDOWN_TIMEOUT since the signal, uvicorn's handler kept."""

from __future__ import annotations

import os
import signal
import threading
from types import FrameType

from gateway.web.stopping import FLOOR, StopClock


def test_the_shutdown_gets_what_is_left_of_the_timeout_since_the_signal_and_uvicorn_still_hears_it() -> None:
    now = [100.0]
    heard: list[int] = []

    def uvicorns(number: int, frame: FrameType | None) -> None:
        heard.append(number)

    before = signal.signal(signal.SIGTERM, uvicorns)
    try:
        clock = StopClock(20.0, clock=lambda: now[0])
        clock.watch()
        assert clock.left() == 20.0  # no signal yet: the whole timeout
        os.kill(os.getpid(), signal.SIGTERM)
        assert heard == [signal.SIGTERM]
        now[0] += 15.5  # in-flight requests took this long
        assert clock.left() == 4.5
        now[0] += 60
        assert clock.left() == FLOOR  # late: still time to record the spool's acknowledgements
    finally:
        signal.signal(signal.SIGTERM, before)


def test_off_the_main_thread_nothing_is_watched_and_the_whole_timeout_is_left() -> None:
    clock = StopClock(3.0)
    worker = threading.Thread(target=clock.watch)
    worker.start()
    worker.join()
    assert clock.asked_at is None and clock.left() == 3.0
