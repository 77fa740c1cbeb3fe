"""Training runs on disk, so that a server restart brings them back: one file per run in a bounded folder.

The pool writes a run when it starts, every ``save_seconds`` while it trains, and when it ends. A run whose
file still says "running" after a restart was interrupted; it comes back with the weights of its last save.
Files are read with ``torch.load(..., weights_only=True)``; the model's architecture comes from the page's
settings (the same URL), so a file holds only weights, histories and the run's state.
"""

from __future__ import annotations

import dataclasses
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from models.core.checkpoint import CheckpointError
from models.core.engine import MetricHistory, StepMetrics, TrainConfig
from models.core.jobs import ENDED, Snapshot

FORMAT = "seqlab-run"
RUN_ID = re.compile(r"[0-9a-f]{12}")


@dataclass
class StoredRun:
    """A run read back from disk: its state when last saved, weights and histories per member."""

    run_id: str
    status: str
    stop_reason: str | None
    config: TrainConfig
    members: dict[str, dict]  # name -> {"step", "status", "stop_reason", "state_dict", "history"}
    saved_at: float

    @property
    def interrupted(self) -> bool:
        return self.status not in ENDED  # a file is written as "running" until its run ends

    def snapshot(self, model: nn.Module | dict[str, nn.Module]) -> Snapshot:
        """The run as a snapshot, its weights loaded into ``model`` (a fresh model of the run's settings, or
        {name: model} for a group); a mismatch raises :class:`CheckpointError`."""
        models = model if isinstance(model, dict) else {"": model}
        if set(models) != set(self.members):
            raise CheckpointError(f"run {self.run_id}: trained {sorted(self.members)}, the page has {sorted(models)}")
        snapshots = {name: self._member(name, models[name]) for name in self.members}
        step = min(s.step for s in snapshots.values())
        status, reason = self.status, self.stop_reason
        if self.interrupted:
            status = "interrupted"
            reason = f"interrupted when the server restarted; these are its weights at step {step}"
            snapshots = {n: dataclasses.replace(s, status=status, stop_reason=reason) for n, s in snapshots.items()}
        if "" in snapshots:
            return dataclasses.replace(snapshots[""], status=status, stop_reason=reason)
        return Snapshot(step, self.config, status, reason, trainers=snapshots)

    def _member(self, name: str, model: nn.Module) -> Snapshot:
        member = self.members[name]
        try:
            model.load_state_dict(member["state_dict"])
        except (RuntimeError, KeyError) as error:
            first = str(error).strip().splitlines()[0]
            raise CheckpointError(f"run {self.run_id}: its weights do not fit these settings ({first})") from None
        return Snapshot(
            member["step"], self.config, member["status"], member["stop_reason"], model.eval(), _history(member)
        )


class RunStore:
    """Runs as ``<folder>/<id>.pt``; keeps the ``keep`` most recent, none older than ``max_age_days``."""

    def __init__(self, folder: str | Path, keep: int = 200, max_age_days: float = 7.0):
        self.folder = Path(folder)
        self.keep = keep
        self.max_age_seconds = max_age_days * 86400

    @classmethod
    def from_environment(cls, environ) -> RunStore:
        """The folder in ``SEQLAB_RUNS_DIR``, by default ``seqlab-runs`` in the system's temporary folder."""
        default = Path(os.environ.get("TMPDIR", "/tmp")) / "seqlab-runs"
        return cls(environ.get("SEQLAB_RUNS_DIR", default))

    def path(self, run_id: str) -> Path:
        if not RUN_ID.fullmatch(run_id):
            raise ValueError(f"not a run id: {run_id[:40]!r}")
        return self.folder / f"{run_id}.pt"

    def save(self, run_id: str, snapshot: Snapshot) -> None:
        """Write ``snapshot`` atomically (a reader never sees half a file)."""
        members = snapshot.trainers or {"": snapshot}
        payload = {
            "format": FORMAT,
            "status": snapshot.status,
            "stop_reason": snapshot.stop_reason,
            "config": dataclasses.asdict(snapshot.config),
            "members": {name: _member_payload(member) for name, member in members.items()},
            "saved_at": time.time(),
        }
        self.folder.mkdir(parents=True, exist_ok=True)
        target = self.path(run_id)
        partial = target.with_suffix(".partial")
        torch.save(payload, partial)
        partial.replace(target)

    def load(self, run_id: str) -> StoredRun | None:
        """The stored run, None if there is none; an unreadable file raises :class:`CheckpointError`."""
        path = self.path(run_id)
        if not path.is_file():
            return None
        try:
            payload = torch.load(path, map_location="cpu", weights_only=True)
            return StoredRun(
                run_id,
                payload["status"],
                payload["stop_reason"],
                TrainConfig(**payload["config"]),
                payload["members"],
                payload["saved_at"],
            )
        except Exception as error:  # noqa: BLE001 - a damaged file raises almost any type
            raise CheckpointError(f"{path}: not a readable SeqLab run ({type(error).__name__})") from None

    def prune(self) -> None:
        """Delete runs beyond the newest ``keep`` and those older than ``max_age_days``."""
        if not self.folder.is_dir():
            return
        files = sorted(self.folder.glob("*.pt"), key=lambda p: p.stat().st_mtime, reverse=True)
        cutoff = time.time() - self.max_age_seconds
        for index, path in enumerate(files):
            if index >= self.keep or path.stat().st_mtime < cutoff:
                path.unlink(missing_ok=True)


def _member_payload(snapshot: Snapshot) -> dict:
    entries = snapshot.history.entries
    return {
        "step": snapshot.step,
        "status": snapshot.status,
        "stop_reason": snapshot.stop_reason,
        "state_dict": {name: t.detach().cpu() for name, t in snapshot.model.state_dict().items()},
        "history": {
            "capacity": snapshot.history.capacity,
            "stride": snapshot.history.stride,
            "step": [e.step for e in entries],
            "loss": [e.loss for e in entries],
            "grad_norm": [e.grad_norm for e in entries],
            "metrics": [e.metrics for e in entries],
            "probes": [{k: torch.from_numpy(np.asarray(v)) for k, v in e.probe_grad_norms.items()} for e in entries],
        },
    }


def _history(member: dict) -> MetricHistory:
    saved = member["history"]
    history = MetricHistory(saved["capacity"])
    history.stride = saved["stride"]
    history.entries = [
        StepMetrics(step, loss, grad, metrics, {k: v.numpy() for k, v in probes.items()})
        for step, loss, grad, metrics, probes in zip(
            saved["step"], saved["loss"], saved["grad_norm"], saved["metrics"], saved["probes"], strict=True
        )
    ]
    return history
