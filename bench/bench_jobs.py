"""The training pool: its throughput against the plain engine, a job beside a page being drawn (in a thread
and in a child process), torch threads per job, and the memory an abandoned job gives back.

Throughput: the RNN lab's default run (part of speech, LSTM) trained for the same number of steps by
``Trainer.run`` in this thread and by a job in a :class:`JobPool`, alternating in rounds; the medians compare.
"""

from __future__ import annotations

import contextlib
import gc
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace

import torch

from models.core.jobs import SWITCH_SECONDS, JobPool
from models.labs.rnn.spec import ModelSpec, build_trainer, default_run

STEPS = 300
ROUNDS = 7
THROUGHPUT_GOAL = 0.8


def _trainer(steps: int = STEPS, hidden: int | None = None):
    run = default_run("pos", steps=steps)
    if hidden is not None:
        run = replace(run, model=ModelSpec("lstm", hidden, num_layers=2))
    return build_trainer(run, "cpu")


def _engine_rate() -> float:
    trainer = _trainer()
    started = time.perf_counter()
    trainer.run()
    return STEPS / (time.perf_counter() - started)


def _pool_rate(pool: JobPool, jobs: int = 1) -> float:
    """Steps per second of ``jobs`` runs submitted together, summed (submission to last end)."""
    trainers = [_trainer() for _ in range(jobs)]
    started = time.perf_counter()
    submitted = [pool.submit(trainer) for trainer in trainers]
    assert all(job.wait(600) for job in submitted)
    return jobs * STEPS / (time.perf_counter() - started)


def pool_throughput() -> dict:
    torch.set_num_threads(1)
    pool = JobPool(workers=1, threads_per_job=1)
    _pool_rate(pool), _engine_rate()  # warm-up
    engine, pooled = [], []
    for _ in range(ROUNDS):
        engine.append(_engine_rate())
        pooled.append(_pool_rate(pool))
    pool.close()
    ratio = statistics.median(pooled) / statistics.median(engine)
    return {
        "model": f"RNN lab default: part-of-speech LSTM, {STEPS} steps per run, one torch thread",
        "engine_steps_per_s": round(statistics.median(engine), 1),
        "pool_steps_per_s": round(statistics.median(pooled), 1),
        "ratio": round(ratio, 3),
        "goal_ratio_at_least": THROUGHPUT_GOAL,
        "met": ratio >= THROUGHPUT_GOAL,
    }


@contextlib.contextmanager
def _busy_page() -> Iterator[Callable[[], float]]:
    """A thread busy in Python, as a page drawing its figures is, while the block runs; yields a function
    giving its rounds of work per second so far."""
    stop, done, started = threading.Event(), [0], time.perf_counter()

    def work() -> None:
        while not stop.is_set():
            sum(i * i for i in range(10_000))
            done[0] += 1

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    try:
        yield lambda: done[0] / (time.perf_counter() - started)
    finally:
        stop.set()
        thread.join()


def _page_rate(seconds: float = 2.0) -> float:
    """Rounds per second of the busy page alone."""
    with _busy_page() as rate:
        time.sleep(seconds)
        return rate()


def beside_a_busy_page() -> dict:
    """A job's steps per second, and the page's speed against the page alone, while a thread is busy in
    Python: a job in a worker thread at Python's default GIL switch interval and at the pool's, and a job in
    a child process. A thread's torch ops release the GIL and wait for it again behind the page."""
    alone = statistics.median(_page_rate() for _ in range(3))
    rows = {}
    for name, interval, processes in (
        ("thread_switch_5_ms", 0.005, False),
        (f"thread_switch_{SWITCH_SECONDS * 1000:g}_ms", SWITCH_SECONDS, False),
        ("child_process", SWITCH_SECONDS, True),
    ):
        pool = JobPool(workers=1, processes=processes)
        sys.setswitchinterval(interval)
        with _busy_page() as page_rate:
            rate = statistics.median(_pool_rate(pool) for _ in range(3))
            page = page_rate()
        pool.close()
        rows[name] = {"steps_per_s": round(rate, 1), "page_speed_vs_alone": round(page / alone, 2)}
    sys.setswitchinterval(SWITCH_SECONDS)
    return {"beside_a_busy_thread": rows}


def threads_per_job() -> dict:
    """Total steps per second with 1 and with 2 concurrent jobs (2 workers, child processes), at 1 and 2 torch
    threads per job."""
    rates = {}
    for threads in (1, 2):
        pool = JobPool(workers=2, threads_per_job=threads)
        _pool_rate(pool)
        for jobs in (1, 2):
            rates[f"{threads}_thread_{jobs}_jobs"] = round(
                statistics.median(_pool_rate(pool, jobs) for _ in range(3)), 1
            )
        pool.close()
    best = max((1, 2), key=lambda t: rates[f"{t}_thread_2_jobs"])
    return {"total_steps_per_s": rates, "chosen_threads_per_job": 1, "best_under_load": best}


def _rss_mb(pid: int | str = "self") -> float:
    with open(f"/proc/{pid}/status") as status:
        line = next(line for line in status if line.startswith("VmRSS"))
    return int(line.split()[1]) / 1024


def abandoned_memory() -> dict:
    """RSS of the server before, while and after a job nobody polls trains a 2-layer LSTM (H = 512) and is
    cancelled, and of the job's child process while it trains (its memory goes back to the system when it ends).
    In threads (``SEQLAB_TRAIN_PROCESSES=0``) the server's own RSS grows instead."""
    warm = JobPool(workers=1)
    warm.submit(_trainer(steps=5, hidden=512)).wait(60)  # the task's data and torch's kernels stay loaded
    warm.close()
    gc.collect()
    before = _rss_mb()
    pool = JobPool(workers=1, grace_seconds=3.0)
    job = pool.submit(_trainer(steps=10**6, hidden=512))
    time.sleep(2.0)
    during, child = _rss_mb(), _rss_mb(job.runner.process.pid)
    assert job.wait(30), "the abandoned job was not cancelled"
    reason = job.snapshot.stop_reason
    del job
    pool.close()
    gc.collect()
    time.sleep(0.5)
    after = _rss_mb()
    return {
        "grace_seconds": 3.0,
        "reason": reason,
        "rss_before_mb": round(before, 1),
        "rss_while_training_mb": round(during, 1),
        "child_rss_while_training_mb": round(child, 1),
        "rss_after_cancel_mb": round(after, 1),
    }


def run() -> dict:
    return {
        "pool_throughput": pool_throughput(),
        "beside_a_busy_page": beside_a_busy_page(),
        "threads_per_job": threads_per_job(),
        "abandoned": abandoned_memory(),
    }
