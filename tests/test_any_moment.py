"""The dated tests pass at every hard moment, not only at the hour the suite happens to run.

Tests marked ``dated`` place their rows around the run's moment (``tests.support.clock``). Here
they run again, in fresh pytest processes, with the moment set to each of ``HARD_MOMENTS``: New
Year in Shanghai and Los Angeles, the days summer time starts and ends and the days after (a
minute after midnight and a minute before the next), zones half an hour off whole hours or whose
clocks move at midnight, a leap day. ClickHouse keeps its real clock; only the fixtures move.

The runs start with the session (``moment_runs`` in tests/conftest.py), not when this test comes:
the other tests keep about one of the machine's two cores busy, so the runs go one at a time beside
them, at a lower priority (they take what the other tests leave idle), and two at a time once this
test, the session's last, waits for them.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.clock import ENV, HARD_MOMENTS, Moment

ROOT = Path(__file__).resolve().parent.parent


RUN_LIMIT = 300.0  # seconds for one moment's run (~65 s on an idle machine)
TOTAL_LIMIT = 1500.0  # for the runs still going when this test starts to wait, inside its own timeout
# A run beside the other tests yields the CPU to them: it takes what they leave idle, and their
# timings stay what they are without it (its RUN_LIMIT starts when this test begins to wait).
BESIDE_NICENESS = 10


@dataclass(frozen=True, slots=True)
class Run:
    moment: Moment
    code: int  # pytest's exit code; -1 when the run was stopped at its time limit
    seconds: float
    stdout: str
    stderr: str

    @property
    def summary(self) -> str:
        """pytest's closing line ("94 passed, 1343 deselected in 25.1s")."""
        lines = self.stdout.strip().splitlines()
        return lines[-1] if lines else "(no output)"

    @property
    def passed(self) -> bool:
        return self.code == 0 and " passed" in self.summary and " failed" not in self.summary


def dated_modules() -> list[str]:
    """The test modules with dated tests: collecting only these saves each run the whole suite's."""
    return sorted(str(path.relative_to(ROOT)) for path in (ROOT / "tests").rglob("test_*.py")
                  if path.name != Path(__file__).name and "mark.dated" in path.read_text(encoding="utf-8"))


class MomentRuns:
    """``pytest -m dated`` at each hard moment, in the background: one run at a time until
    ``both_cores``, then two. ``stop`` kills what still runs (the session ended first)."""

    def __init__(self, basetemp: Path, moments: tuple[Moment, ...] = HARD_MOMENTS) -> None:
        self._slots = threading.Semaphore(1)
        self._waiting_since: float | None = None  # when this test began to wait: the other tests are done
        self._lock = threading.Lock()
        self._running: set[subprocess.Popen[str]] = set()
        self._stopped = False
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="moment")
        self._futures: list[tuple[Moment, Future[Run]]] = [
            (moment, self._pool.submit(self._run, moment, basetemp / moment.name.replace(":", "")))
            for moment in moments]

    def both_cores(self) -> None:
        """The other tests are done: a second run may go beside the first, and the next ones get the
        CPU's full share."""
        self._waiting_since = time.monotonic()
        self._slots.release()

    def results(self, limit: float) -> list[Run]:
        """Every run's, waiting at most ``limit`` seconds: those still going then are stopped."""
        wait([future for _, future in self._futures], timeout=limit, return_when=FIRST_EXCEPTION)
        self.stop()
        return [Run(moment, -1, 0.0, "", "not started in time") if future.cancelled() else future.result()
                for moment, future in self._futures]

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            running = list(self._running)
        for process in running:
            process.kill()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _run(self, moment: Moment, basetemp: Path) -> Run:
        with self._slots:
            return self._run_now(moment, basetemp)

    def _run_now(self, moment: Moment, basetemp: Path) -> Run:
        """``pytest -m dated`` over the dated modules with the moment set, stopped at its limit."""
        command = [sys.executable, "-m", "pytest", "-m", "dated", "-q", "-p", "no:cacheprovider",
                   "--basetemp", str(basetemp), *dated_modules()]
        started = time.monotonic()
        with self._lock:
            if self._stopped:
                return Run(moment, -1, 0.0, "", "not started: the session ended first")
            process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, ENV: moment.spec}, text=True,
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            self._running.add(process)
        if self._waiting_since is None:  # beside the other tests; before its engine starts threads,
            with contextlib.suppress(ProcessLookupError):  # which take the niceness of their parent
                os.setpriority(os.PRIO_PROCESS, process.pid, BESIDE_NICENESS)
        try:
            out, err = self._output(process, started)
        finally:
            with self._lock:
                self._running.discard(process)
        code = process.returncode if process.returncode >= 0 else -1  # killed: at its limit, or the end
        return Run(moment, code, time.monotonic() - started, out, err)

    def _output(self, process: subprocess.Popen[str], started: float) -> tuple[str, str]:
        """The run's output once it ends, or once it is killed ``RUN_LIMIT`` seconds after it started,
        counted from when this test began to wait if it started before: beside the other tests, it
        gets only the CPU they leave."""
        while True:
            waiting = self._waiting_since
            deadline = None if waiting is None else max(started, waiting) + RUN_LIMIT
            try:
                return process.communicate(timeout=5.0 if deadline is None else
                                           max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                if deadline is not None and time.monotonic() >= deadline:
                    process.kill()
                    out, err = process.communicate()
                    return out, f"{err}\nstopped after {RUN_LIMIT:.0f} s"


@pytest.mark.timeout(TOTAL_LIMIT + 300)
def test_the_dated_tests_pass_at_every_hard_moment(
    moment_runs: MomentRuns | None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert moment_runs is not None, "tests/conftest.py's moment_runs starts the runs when this test runs"
    moment_runs.both_cores()
    runs = moment_runs.results(TOTAL_LIMIT)
    with capsys.disabled():
        print("\nthe dated tests at the hard moments:")
        for run in runs:
            shown = run.summary if run.code >= 0 else "stopped at its time limit"
            print(f"  {run.moment.spec:<46} {run.seconds:5.1f} s  {shown}")
    failed = [run for run in runs if not run.passed]
    assert not failed, "\n\n".join(
        f"at {run.moment.spec} ({run.moment.name}), exit {run.code}:\n{run.stdout[-4000:]}\n"
        f"{run.stderr[-2000:]}" for run in failed)
