"""Shared fixtures: a seeded single-threaded torch, and an AppTest opened on one page of the app."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import pytest
import torch
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("SEQLAB_RUNS_DIR", tempfile.mkdtemp(prefix="seqlab-test-runs-"))  # the app pool's run files
APP_TIMEOUT = 120


@pytest.fixture(autouse=True)
def _seeded_single_thread():
    """Seed torch, and use one intra-op thread: the suite's models are tiny, and on a 2-core machine a
    second thread gains nothing and, when other processes are busy, costs several times the run time."""
    threads = torch.get_num_threads()
    torch.manual_seed(0)
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def open_page(page: str | None = None, **session_state) -> AppTest:
    """Run ``app.py`` (and switch to ``page``, e.g. "pages/positional.py") with the given session state."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=APP_TIMEOUT)
    for key, value in session_state.items():
        at.session_state[key] = value
    at.run()
    if page is not None:
        at.switch_page(page).run()
    return at


def assert_clean(at: AppTest) -> None:
    """No uncaught exception and no error message on the page."""
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


@pytest.fixture(autouse=True)
def _no_job_outlives_its_test():
    """Stop the runs a test left in the app's training pool, so they do not slow the tests after it."""
    yield
    import sys

    if "pages._ui" in sys.modules:
        for job in list(sys.modules["pages._ui"].job_pool().jobs.values()):
            job.stop()


def submitted(trainer, wait: bool = True):
    """``trainer`` as a job in the app's pool (finished, unless ``wait`` is False), for a test's session state."""
    from pages._ui import job_pool

    job = job_pool().submit(trainer)
    assert not wait or job.wait(APP_TIMEOUT)
    return job


def job_of(at: AppTest, key: str, until: str = "started"):
    """The page's job in live panel ``key`` once it has taken a step (``until="started"``) or has ended
    (``"ended"``, then the page is rerun: AppTest does not tick fragments)."""
    job = at.session_state[f"{key}_job"]
    deadline = time.monotonic() + APP_TIMEOUT
    if until == "ended":
        assert job.wait(APP_TIMEOUT)
        at.run()
    while until == "started" and job.snapshot.step == 0 and not job.done and time.monotonic() < deadline:
        time.sleep(0.02)
    return job
