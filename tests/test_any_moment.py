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


@dataclass(frozen=True, slots=True)
class Run:
    moment: Moment
    code: int
    seconds: float
    output: str

    @property
    def summary(self) -> str:
        lines = self.output.strip().splitlines()
        return lines[-1] if lines else "(no output)"


def run_at(moment: Moment, basetemp: Path) -> Run:
    env = {**os.environ, ENV: moment.spec}
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-m", "dated", "-q", "-p", "no:cacheprovider", "--basetemp",
         str(basetemp), "tests"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)
    return Run(moment, done.returncode, time.monotonic() - started, done.stdout + done.stderr)


@pytest.mark.timeout(1800)
def test_the_dated_tests_pass_at_every_hard_moment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with ThreadPoolExecutor(max_workers=2) as pool:
        runs = list(pool.map(lambda m: run_at(m, tmp_path / m.name.replace(":", "")), HARD_MOMENTS))
    with capsys.disabled():
        print("\nthe dated tests at the hard moments:")
        for run in runs:
            print(f"  {run.moment.spec:<46} {run.seconds:5.1f} s  {run.summary}")
    failed = [run for run in runs if run.code != 0]
    assert not failed, "\n\n".join(f"at {run.moment.spec} ({run.moment.name}):\n{run.output[-4000:]}"
                                   for run in failed)
    assert all(" passed" in run.summary and "deselected" in run.summary for run in runs)
