"""Runs on disk: a finished run comes back after a restart with its weights and history, an interrupted one
comes back marked as interrupted, damaged or foreign files give a message naming them, the folder is bounded."""

import os
import time

import pytest
import torch
from torch import nn

from models.core.checkpoint import CheckpointError
from models.core.engine import TrainerGroup
from models.core.jobs import JobPool
from models.core.runs import RunStore
from tests.models.core.test_engine import make_trainer
from tests.models.core.test_jobs import slow_trainer


@pytest.fixture
def store(tmp_path):
    return RunStore(tmp_path / "runs")


def run_in_pool(store, trainer, **settings):
    pool = JobPool(workers=1, chunk_seconds=0.02, store=store, **settings)
    return pool, pool.submit(trainer)


def test_a_finished_run_comes_back_with_its_weights_and_history(store):
    pool, job = run_in_pool(store, make_trainer(steps=80, lr=0.05))
    assert job.wait(30)
    pool.close()
    stored = store.load(job.id)
    back = stored.snapshot(nn.Linear(3, 1))
    assert back.status == "finished" and back.step == 80 and not stored.interrupted
    torch.testing.assert_close(back.model.weight, job.snapshot.model.weight, rtol=0, atol=0)
    assert back.history["loss"].tolist() == job.snapshot.history["loss"].tolist()
    assert back.history.column("error").tolist() == job.snapshot.history.column("error").tolist()
    assert back.config == job.snapshot.config


def test_a_run_killed_mid_training_comes_back_as_interrupted_with_its_last_saved_weights(store):
    pool, job = run_in_pool(store, slow_trainer(seconds=0.005), save_seconds=0.05)
    deadline = time.monotonic() + 10
    while (store.load(job.id) is None or store.load(job.id).members[""]["step"] == 0) and time.monotonic() < deadline:
        time.sleep(0.02)
    stored = store.load(job.id)  # what a server killed now would leave
    pool.close()
    back = stored.snapshot(nn.Linear(3, 1))
    assert stored.interrupted and back.status == "interrupted" and back.done
    assert back.step > 0 and f"weights at step {back.step}" in back.stop_reason
    assert len(back.history) == back.step


def test_a_group_comes_back_member_by_member(store):
    pool, job = run_in_pool(store, TrainerGroup({"a": make_trainer(steps=20), "b": make_trainer(steps=30)}))
    assert job.wait(30)
    pool.close()
    back = store.load(job.id).snapshot({"a": nn.Linear(3, 1), "b": nn.Linear(3, 1)})
    assert {n: s.step for n, s in back.trainers.items()} == {"a": 20, "b": 30} and back.status == "finished"
    with pytest.raises(CheckpointError, match="trained \\['a', 'b'\\]"):
        store.load(job.id).snapshot(nn.Linear(3, 1))


def test_weights_that_do_not_fit_the_page_settings_are_refused_with_the_run_named(store):
    pool, job = run_in_pool(store, make_trainer(steps=5))
    assert job.wait(30)
    pool.close()
    with pytest.raises(CheckpointError, match=f"run {job.id}: its weights do not fit"):
        store.load(job.id).snapshot(nn.Linear(4, 1))


@pytest.mark.parametrize("content", [b"", b"plain text, not a run", b"\x80\x02garbage" * 50])
def test_a_damaged_run_file_gives_a_message_naming_it(store, content):
    store.folder.mkdir(parents=True)
    path = store.path("0123456789ab")
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=str(path)):
        store.load("0123456789ab")


def test_a_missing_run_is_none_and_a_bad_id_is_refused(store):
    assert store.load("0123456789ab") is None
    for bad in ("../../etc/passwd", "0123456789AB", "x" * 12):
        with pytest.raises(ValueError, match="not a run id"):
            store.load(bad)


def test_the_folder_keeps_the_newest_runs_and_none_too_old(tmp_path):
    store = RunStore(tmp_path, keep=3, max_age_days=1)
    pool = JobPool(workers=1, store=store)
    jobs = [pool.submit(make_trainer(steps=2)) for _ in range(5)]
    assert all(job.wait(30) for job in jobs)
    pool.close()
    kept = {p.stem for p in tmp_path.glob("*.pt")}
    assert len(kept) == 3
    oldest = tmp_path / f"{sorted(kept)[0]}.pt"
    os.utime(oldest, (time.time() - 2 * 86400,) * 2)
    store.prune()
    assert len(list(tmp_path.glob("*.pt"))) == 2 and not oldest.exists()
