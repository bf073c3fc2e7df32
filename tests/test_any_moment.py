"""The dated tests pass at every hard moment, not only at the hour the suite happens to run.

Tests marked ``dated`` place their rows around the run's moment (``tests.support.clock``). Here
they run again, in fresh pytest processes, with the moment set to each of ``HARD_MOMENTS``: New
Year in Shanghai and Los Angeles, the days summer time starts and ends and the days after (a
minute after midnight and a minute before the next), zones half an hour off whole hours or whose
clocks move at midnight, a leap day. ClickHouse keeps its real clock; only the fixtures move. Two
processes at a time, as the machine has two cores.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.clock import ENV, HARD_MOMENTS, Moment

ROOT = Path(__file__).resolve().parent.parent


RUN_LIMIT = 300.0  # seconds for one moment's run (~25 s on an idle machine)
TOTAL_LIMIT = 1500.0  # for all of them, inside the test's own timeout


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


def run_at(moment: Moment, basetemp: Path, deadline: float) -> Run:
    """``pytest -m dated tests`` with the moment set, stopped at its limit or the overall deadline."""
    env = {**os.environ, ENV: moment.spec}
    started = time.monotonic()
    limit = max(1.0, min(RUN_LIMIT, deadline - started))
    command = [sys.executable, "-m", "pytest", "-m", "dated", "-q", "-p", "no:cacheprovider", "--basetemp",
               str(basetemp), *dated_modules()]
    try:
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=limit,
                              check=False)
    except subprocess.TimeoutExpired as stopped:  # run() has killed it
        out, err = (stream.decode(errors="replace") if isinstance(stream, bytes) else stream or ""
                    for stream in (stopped.stdout, stopped.stderr))
        return Run(moment, -1, time.monotonic() - started, out, f"{err}\nstopped after {limit:.0f} s")
    return Run(moment, done.returncode, time.monotonic() - started, done.stdout, done.stderr)


@pytest.mark.timeout(TOTAL_LIMIT + 300)
def test_the_dated_tests_pass_at_every_hard_moment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    deadline = time.monotonic() + TOTAL_LIMIT
    with ThreadPoolExecutor(max_workers=2) as pool:
        runs = list(pool.map(lambda m: run_at(m, tmp_path / m.name.replace(":", ""), deadline), HARD_MOMENTS))
    with capsys.disabled():
        print("\nthe dated tests at the hard moments:")
        for run in runs:
            shown = run.summary if run.code >= 0 else "stopped at its time limit"
            print(f"  {run.moment.spec:<46} {run.seconds:5.1f} s  {shown}")
    failed = [run for run in runs if not run.passed]
    assert not failed, "\n\n".join(
        f"at {run.moment.spec} ({run.moment.name}), exit {run.code}:\n{run.stdout[-4000:]}\n"
        f"{run.stderr[-2000:]}" for run in failed)
