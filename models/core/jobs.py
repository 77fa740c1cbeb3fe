"""Training runs as jobs in a bounded pool, off the thread that draws the page.

A :class:`JobPool` owns ``workers`` threads; each takes the oldest queued :class:`Job` and trains it in
chunks of about ``chunk_seconds`` (``Trainer.run_for``), in a forked child process where it can
(:mod:`models.core.runners`). After each chunk the worker publishes a :class:`Snapshot`: a copy of the
model(s) and the metric history. Views read only snapshots, so nothing a page draws can touch the weights
being trained.

A job ends when its trainer finishes, diverges or is stopped; ``Job.stop`` takes effect at once for every
reader (the published snapshot says "stopped"), while the child is killed (or the worker thread abandons the
step in flight). A job that no reader has polled for ``grace_seconds`` (its tab was closed) is cancelled and
forgotten, which frees its trainer. A run whose speed over :data:`MEASURE_SECONDS` predicts more than
``cost_limit_seconds`` waits for ``Job.confirm``. With a ``store`` (:class:`models.core.runs.RunStore`) runs
are also written to disk when they start, every ``save_seconds`` and when they end.

Usage::

    pool = JobPool(workers=2)
    job = pool.submit(trainer)
    job.wait(60)
    job.snapshot.history["loss"]
"""

from __future__ import annotations

import atexit
import copy
import ctypes
import ctypes.util
import gc
import heapq
import os
import sys
import threading
import time
import uuid
import warnings
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field

from torch import nn

from models.core.engine import MetricHistory, TrainConfig, Trainer, TrainerGroup
from models.core.runners import ProcessRunner, ThreadRunner, runner_for

# Every torch op releases the GIL; with Python's default 5 ms switch interval each reacquire waits behind any
# thread busy in Python (a page drawing its figures), and a small model trained 16x slower (bench_jobs).
SWITCH_SECONDS = 0.0005
MEASURE_SECONDS = 2.0  # a run's speed is judged against the cost limit after this much training
ENDED = ("finished", "stopped", "diverged", "failed", "interrupted")


@dataclass(frozen=True)
class Snapshot:
    """A run as a view may read it: read like a :class:`Trainer` (or a :class:`TrainerGroup` when it has
    ``trainers``), but its model and history are copies that training never touches."""

    step: int
    config: TrainConfig
    status: str
    stop_reason: str | None
    model: nn.Module | None = None
    history: MetricHistory | None = None
    trainers: dict[str, Snapshot] = field(default_factory=dict)

    @property
    def done(self) -> bool:
        return self.status in ENDED

    @property
    def models(self) -> dict[str, nn.Module]:
        return {name: member.model for name, member in self.trainers.items()}

    @property
    def histories(self) -> dict[str, MetricHistory]:
        return {name: member.history for name, member in self.trainers.items()}

    def ended(self, status: str, reason: str) -> Snapshot:
        """This snapshot with the run marked as ended (members too): what a reader sees after Stop."""
        members = {
            name: member if member.done else member.ended(status, reason) for name, member in self.trainers.items()
        }
        return Snapshot(self.step, self.config, status, reason, self.model, self.history, members)


def snapshot(trainer: Trainer | TrainerGroup) -> Snapshot:
    """A copy of ``trainer``'s model(s) and history now (call it between chunks, from the training thread)."""
    if isinstance(trainer, TrainerGroup):
        members = {name: snapshot(member) for name, member in trainer.trainers.items()}
        return Snapshot(trainer.step, trainer.config, trainer.status, trainer.stop_reason or None, trainers=members)
    model = copy.deepcopy(trainer.model).eval()
    return Snapshot(trainer.step, trainer.config, trainer.status, trainer.stop_reason, model, _copy(trainer.history))


def _copy(history: MetricHistory) -> MetricHistory:
    copied = MetricHistory(history.capacity)
    copied.stride, copied.entries = history.stride, list(history.entries)
    return copied


def _give_back_memory() -> None:
    """Return the heap pages a finished job freed to the system (glibc would keep them for this process)."""
    if LIBC is not None:
        gc.collect()
        LIBC.malloc_trim(0)


LIBC = ctypes.CDLL(ctypes.util.find_library("c")) if sys.platform.startswith("linux") else None


class Job:
    """One training run in a :class:`JobPool`. ``state`` is "queued", "running", "confirm" (waits for
    :meth:`confirm` because its estimate exceeds the pool's cost limit) or "ended". ``spec`` is what the
    caller made the run from (to tell whether a page's settings still match it)."""

    def __init__(
        self,
        pool: JobPool,
        trainer: Trainer | TrainerGroup | None,
        label: str,
        spec: object,
        run: Snapshot | None = None,
    ):
        self.id = uuid.uuid4().hex[:12]
        self.label = label
        self.spec = spec
        self.pool = pool
        self.trainer = trainer
        self.runner: ThreadRunner | ProcessRunner | None = None
        self.state = "queued" if run is None else "ended"
        self.snapshot = snapshot(trainer) if run is None else run
        self.submitted = self.last_seen = self.saved = time.monotonic()
        self.seconds_per_step: float | None = None
        self.confirmed = False
        self._ended = threading.Event()

    @property
    def done(self) -> bool:
        return self.state == "ended"

    @property
    def estimate_seconds(self) -> float | None:
        """Seconds the remaining steps take at the speed measured so far (None before the first chunk)."""
        if self.seconds_per_step is None:
            return None
        return self.seconds_per_step * max(self.snapshot.config.steps - self.snapshot.step, 0)

    def touch(self) -> None:
        """A reader is still watching: keeps the job from being cancelled as abandoned."""
        self.last_seen = time.monotonic()

    def stop(self, reason: str | None = None) -> None:
        """End the run now for every reader, keeping the weights of the last published chunk."""
        self.pool._end(self, "stopped", reason or f"stopped by the user at step {self.snapshot.step}")

    def confirm(self) -> None:
        """Run a job held back by the cost limit anyway."""
        self.pool._confirm(self)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the job has ended (True) or ``timeout`` seconds have passed (False)."""
        return self._ended.wait(timeout)


class JobPool:
    """At most ``workers`` jobs train at once; the rest wait in a first-come queue.

    ``threads_per_job`` sets torch's intra-op threads in each job. With ``processes`` a CPU job trains in a
    forked child process where the system can fork; otherwise, and on CUDA, in the worker thread. Creating a
    pool shortens the process's GIL switch interval to :data:`SWITCH_SECONDS` (for jobs trained in threads).
    Ended jobs stay readable by id (``get``) for reattaching a page to its run; the pool keeps the
    ``keep_ended`` most recent.
    """

    def __init__(
        self,
        workers: int = 2,
        threads_per_job: int = 1,
        chunk_seconds: float = 0.5,
        grace_seconds: float = 60.0,
        cost_limit_seconds: float | None = None,
        keep_ended: int = 64,
        store=None,
        save_seconds: float = 10.0,
        processes: bool = True,
    ):
        if workers < 1 or threads_per_job < 1:
            raise ValueError(f"a pool needs at least one worker and one thread, got {workers} and {threads_per_job}")
        self.workers = workers
        self.threads_per_job = threads_per_job
        self.chunk_seconds = chunk_seconds
        self.grace_seconds = grace_seconds
        self.cost_limit_seconds = cost_limit_seconds
        self.keep_ended = keep_ended
        self.store = store  # a models.core.runs.RunStore, or None to keep runs in memory only
        self.save_seconds = save_seconds
        self.processes = processes
        self.jobs: OrderedDict[str, Job] = OrderedDict()
        self.queue: list[Job] = []
        self.running: list[Job] = []
        self._lock = threading.Condition()
        self._closed = False
        sys.setswitchinterval(SWITCH_SECONDS)
        atexit.register(self.close)
        self._threads = [
            threading.Thread(target=self._work, name=f"seqlab-train-{i}", daemon=True) for i in range(workers)
        ]
        for thread in self._threads:
            thread.start()

    @classmethod
    def from_environment(cls, environ: Mapping[str, str], store=None) -> JobPool:
        """A pool sized by ``SEQLAB_TRAIN_WORKERS`` (default: the number of cores), ``SEQLAB_THREADS_PER_JOB``
        (default 1), ``SEQLAB_ABANDON_SECONDS`` (default 60) and ``SEQLAB_COST_LIMIT_SECONDS`` (default 300);
        ``SEQLAB_TRAIN_PROCESSES=0`` trains in the server's threads instead of child processes."""
        cores = os.cpu_count() or 1
        return cls(
            workers=int(environ.get("SEQLAB_TRAIN_WORKERS", cores)),
            threads_per_job=int(environ.get("SEQLAB_THREADS_PER_JOB", 1)),
            grace_seconds=float(environ.get("SEQLAB_ABANDON_SECONDS", 60)),
            cost_limit_seconds=float(environ.get("SEQLAB_COST_LIMIT_SECONDS", 300)),
            store=store,
            processes=environ.get("SEQLAB_TRAIN_PROCESSES", "1") != "0",
        )

    def submit(self, trainer: Trainer | TrainerGroup, label: str = "", spec: object = None) -> Job:
        """Queue ``trainer`` as a new job and return it."""
        job = Job(self, trainer, label, spec)
        self._save(job)
        with self._lock:
            self.jobs[job.id] = job
            self.queue.append(job)
            self._lock.notify_all()
        return job

    def adopt(self, run_id: str, run: Snapshot, label: str = "", spec: object = None) -> Job:
        """An ended run read back from disk, as a job under its old id (after a server restart)."""
        job = Job(self, None, label, spec, run)
        job.id = run_id
        job._ended.set()
        with self._lock:
            self.jobs[job.id] = job
        return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self.jobs.get(job_id)

    def position(self, job: Job) -> int | None:
        """1 for the next job to start, None when not queued."""
        with self._lock:
            return self.queue.index(job) + 1 if job in self.queue else None

    def estimated_wait(self, job: Job) -> float | None:
        """Seconds until a queued job starts: the queue ahead of it assigned to the earliest free worker,
        each job taking its measured estimate (a job not yet measured counts as the mean of those measured)."""
        with self._lock:
            if job not in self.queue:
                return None
            known = [j.estimate_seconds for j in self.running + self.queue if j.estimate_seconds is not None]
            typical = sum(known) / len(known) if known else None
            if typical is None:
                return None
            free = [j.estimate_seconds or typical for j in self.running] + [0.0] * (self.workers - len(self.running))
            heapq.heapify(free)
            for ahead in self.queue[: self.queue.index(job)]:
                heapq.heappush(free, heapq.heappop(free) + (ahead.estimate_seconds or typical))
            return free[0]

    def close(self) -> None:
        """Stop every job and the workers (for tests and shutdown)."""
        if self._closed:
            return
        with self._lock:
            self._closed = True
            for job in list(self.queue) + list(self.running):
                self._end_locked(job, "stopped", "the server is shutting down")
            self._lock.notify_all()
        for thread in self._threads:
            thread.join(timeout=5)

    def _work(self) -> None:
        while True:
            with self._lock:
                while not self.queue and not self._closed:
                    self._lock.wait(timeout=1.0)
                    self._reap_locked()
                if self._closed:
                    return
                job = self.queue.pop(0)
                self.running.append(job)
                job.state = "running"
                if job.runner is None:  # made under the lock: no other child inherits this one's pipe
                    job.runner = runner_for(job.trainer, self.threads_per_job, self.processes)
            trained_here = job.runner.trains_here
            self._train(job)
            with self._lock:
                if job.done and job.runner is not None:
                    job.runner.close()
                    job.runner = None
            del job
            if trained_here:  # a child's memory went with it; a full collection would stall every page here
                _give_back_memory()

    def _train(self, job: Job) -> None:
        try:
            self._chunks(job)
        except Exception as error:  # a failing run ends with its reason; the worker goes on
            self._end(job, "failed", f"training failed at step {job.snapshot.step}: {error}")

    def _chunks(self, job: Job) -> None:
        trainer = job.trainer
        measured = [0.0, 0]  # seconds and steps after the first chunk (its first step warms up)
        while trainer is not None and not trainer.done:
            started, first_step = time.perf_counter(), trainer.step
            job.runner.chunk(self.chunk_seconds)
            taken, spent = trainer.step - first_step, time.perf_counter() - started
            with self._lock:
                if job.state != "running":  # stopped or reaped while the chunk ran
                    return
                if first_step:
                    measured = [measured[0] + spent, measured[1] + taken]
                if measured[1] or taken:
                    job.seconds_per_step = measured[0] / measured[1] if measured[1] else spent / taken
                job.snapshot = snapshot(trainer)
                due = time.monotonic() - job.saved > self.save_seconds
                if measured[0] >= MEASURE_SECONDS and self._over_budget(job):
                    self.running.remove(job)
                    job.state = "confirm"
                    return
                self._reap_locked()
                if job.state != "running":
                    return
            if due:
                self._save(job)
        with self._lock:
            if job.state == "running":
                self._end_locked(job, job.snapshot.status, job.snapshot.stop_reason)

    def _over_budget(self, job: Job) -> bool:
        return (
            self.cost_limit_seconds is not None
            and not job.confirmed
            and (job.estimate_seconds or 0) > self.cost_limit_seconds
        )

    def _confirm(self, job: Job) -> None:
        with self._lock:
            job.confirmed = True
            if job.state == "confirm":
                job.state = "queued"
                self.queue.append(job)
                self._lock.notify_all()

    def _end(self, job: Job, status: str, reason: str) -> None:
        with self._lock:
            self._end_locked(job, status, reason)

    def _end_locked(self, job: Job, status: str, reason: str) -> None:
        if job.state == "ended":
            return
        if job.runner is not None and job in self.running:
            job.runner.stop()  # its worker closes it
        elif job.runner is not None:
            job.runner.close()
            job.runner = None
        for queue in (self.queue, self.running):
            if job in queue:
                queue.remove(job)
        job.state, job.trainer = "ended", None
        if not job.snapshot.done:
            job.snapshot = job.snapshot.ended(status, reason)
        job._ended.set()
        self._save(job)
        ended = [j for j in self.jobs.values() if j.done]
        for old in ended[: max(len(ended) - self.keep_ended, 0)]:
            del self.jobs[old.id]

    def _save(self, job: Job) -> None:
        """Write the job's latest snapshot to the store (a full disk loses the file, never the run)."""
        if self.store is None:
            return
        job.saved = time.monotonic()
        try:
            self.store.save(job.id, job.snapshot)
            if job.done:
                self.store.prune()
        except OSError as error:
            warnings.warn(f"could not save run {job.id}: {error}", stacklevel=2)

    def _reap_locked(self) -> None:
        """Cancel and forget the jobs nobody has polled for ``grace_seconds`` (their tab is gone)."""
        now = time.monotonic()
        for job in [j for j in self.jobs.values() if not j.done and now - j.last_seen > self.grace_seconds]:
            self._end_locked(job, "stopped", f"cancelled: nobody watched it for {self.grace_seconds:.0f} s")
            self.jobs.pop(job.id, None)
