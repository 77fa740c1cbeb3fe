"""Where a pool's job trains: in a forked child process, or in the worker thread itself.

A server thread that trains shares the interpreter's lock with every page being drawn: each torch op
releases it and waits for it again behind Python-busy threads, and one process served four students no
faster than one. A :class:`ProcessRunner` trains in a child forked from the server, at a lower priority
than the pages; after each chunk the child sends its weights, step, status and history, and the parent
copies them into its own (never trained) trainer, which the pool snapshots as before. Stop kills the child
at once. Jobs on CUDA train in a :class:`ThreadRunner`: a forked child cannot use CUDA.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import signal

import torch

from models.core.engine import Trainer, TrainerGroup

CHILD_NICENESS = 10  # a training child yields the cores to the server drawing pages
CAN_FORK = "fork" in multiprocessing.get_all_start_methods()


class ThreadRunner:
    """Trains ``trainer`` in the calling thread; ``stop`` asks it to stop before its next step."""

    trains_here = True  # its activations and optimizer state live in this process

    def __init__(self, trainer: Trainer | TrainerGroup, threads: int):
        self.trainer = trainer
        torch.set_num_threads(threads)

    def chunk(self, seconds: float) -> None:
        self.trainer.run_for(seconds)

    def stop(self) -> None:
        self.trainer.request_stop()

    def close(self) -> None:
        self.trainer = None


class ProcessRunner:
    """Trains ``trainer`` in a forked child, one chunk per :meth:`chunk`; ``trainer`` mirrors the child."""

    trains_here = False

    def __init__(self, trainer: Trainer | TrainerGroup, threads: int):
        self.trainer = trainer
        self.connection, child_end = multiprocessing.Pipe()
        context = multiprocessing.get_context("fork")
        self.process = context.Process(target=_serve, args=(trainer, child_end, threads), daemon=True)
        self.process.start()
        child_end.close()

    def chunk(self, seconds: float) -> None:
        """Train in the child for about ``seconds``, then mirror its state here; raises what the child raised,
        or EOFError once the child is stopped."""
        self.connection.send(seconds)
        outcome, report = pickle.loads(self.connection.recv_bytes())
        if outcome == "error":
            raise RuntimeError(report)
        _mirror(self.trainer, report)

    def stop(self) -> None:
        """End the child now, mid-step if need be."""
        self.process.kill()
        self.process.join(timeout=5)

    def close(self) -> None:
        self.stop()
        self.connection.close()
        self.process.close()
        self.trainer = None


def runner_for(trainer: Trainer | TrainerGroup, threads: int, processes: bool) -> ThreadRunner | ProcessRunner:
    """A child process for a CPU job when ``processes`` (and this system can fork), else the calling thread."""
    on_cuda = any(t.device.type == "cuda" for t in _members(trainer))
    runner = ProcessRunner if processes and CAN_FORK and not on_cuda else ThreadRunner
    return runner(trainer, threads)


def _serve(trainer: Trainer | TrainerGroup, connection, threads: int) -> None:
    """The child: one chunk per request until the parent closes the pipe or kills it."""
    signal.set_wakeup_fd(-1)  # the server's, about to be closed
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the server, which ends its children
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    keep = connection.fileno()
    os.closerange(3, keep)  # the server's sockets and the other jobs' pipes, so that their closing is seen
    os.closerange(keep + 1, os.sysconf("SC_OPEN_MAX"))
    torch.set_num_threads(threads)
    os.nice(CHILD_NICENESS)
    while True:
        try:
            seconds = connection.recv()
        except EOFError:
            return
        try:
            trainer.run_for(seconds)
            reply = ("ok", _report(trainer))
        except Exception as error:  # the parent ends the job with this reason
            reply = ("error", str(error))
        connection.send_bytes(pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL))


def _members(trainer: Trainer | TrainerGroup) -> list[Trainer]:
    return list(trainer.trainers.values()) if isinstance(trainer, TrainerGroup) else [trainer]


def _report(trainer: Trainer | TrainerGroup) -> list[tuple]:
    """What a view reads of each member: step, status, stop reason, weights and history."""
    return [(t.step, t.status, t.stop_reason, t.model.state_dict(), t.history) for t in _members(trainer)]


def _mirror(trainer: Trainer | TrainerGroup, report: list[tuple]) -> None:
    for member, (step, status, reason, state, history) in zip(_members(trainer), report, strict=True):
        member.model.load_state_dict(state)
        member.step, member.status, member.stop_reason, member.history = step, status, reason, history
