"""Checkpoints: a model's weights plus the config that rebuilds it, loaded with ``weights_only=True``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

FORMAT = "seqlab-checkpoint"
VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint file that is missing, corrupted, or does not fit the model."""


@dataclass
class Checkpoint:
    config: dict[str, Any]
    state_dict: dict[str, torch.Tensor]
    meta: dict[str, Any]
    path: Path | None = None  # the file it was read from

    def record(self, source: str | Path, *keys: str) -> dict[str, Any]:
        """The ``meta`` record, which must hold ``keys`` (a file from another lab or experiment may not)."""
        missing = [key for key in keys if key not in self.meta]
        if missing:
            raise CheckpointError(f"{self.named(source)}: not a checkpoint of this model (its record lacks {missing})")
        return self.meta

    def named(self, source: str | Path) -> str:
        """``source`` (what the page calls it) with the file's name, for messages."""
        return (
            f"{self.path.name} ({source})" if self.path is not None and str(source) != str(self.path) else str(source)
        )


def save_checkpoint(
    path: str | Path, model: nn.Module, config: dict[str, Any], meta: dict[str, Any] | None = None
) -> Path:
    """Write ``model``'s weights (on CPU) with ``config`` and ``meta`` (plain Python values only)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {name: tensor.detach().cpu() for name, tensor in model.state_dict().items()}
    payload = {"format": FORMAT, "version": VERSION, "config": config, "meta": meta or {}, "state_dict": state}
    torch.save(payload, path)
    return path


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Read a checkpoint written by :func:`save_checkpoint`; any problem raises :class:`CheckpointError`."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - on arbitrary bytes torch.load raises almost any type
        raise CheckpointError(
            f"{path}: not a readable checkpoint (corrupted or not a torch file): {type(error).__name__}"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a SeqLab checkpoint (missing format marker {FORMAT!r})")
    if payload.get("version") != VERSION:
        raise CheckpointError(f"{path}: checkpoint version {payload.get('version')!r}, expected {VERSION}")
    missing = [name for name in ("config", "state_dict") if not isinstance(payload.get(name), dict)]
    if missing:
        raise CheckpointError(f"{path}: a SeqLab checkpoint without a valid {' and '.join(missing)}")
    return Checkpoint(payload["config"], payload["state_dict"], payload.get("meta", {}), path)


def rebuild(checkpoint: Checkpoint, source: str | Path, build: Callable[[dict[str, Any]], nn.Module]) -> nn.Module:
    """``build(config)`` with the checkpoint's weights, in eval mode; a config ``build`` cannot read (another lab's
    file, a missing setting) raises :class:`CheckpointError` naming the file instead of a ``TypeError``."""
    try:
        model = build(checkpoint.config)
    except (TypeError, ValueError, KeyError, AttributeError) as error:
        problem = f"{type(error).__name__}: {error}"
        raise CheckpointError(
            f"{checkpoint.named(source)}: its settings do not describe this model ({problem})"
        ) from None
    return load_weights(model, checkpoint, source).eval()


def load_weights(model: nn.Module, checkpoint: Checkpoint, source: str | Path = "checkpoint") -> nn.Module:
    """Load ``checkpoint``'s weights into ``model``; names every missing, unexpected or mis-shaped tensor."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(checkpoint.state_dict))
    unexpected = sorted(set(checkpoint.state_dict) - set(expected))
    mismatched = [
        f"{name}: file {tuple(tensor.shape)} vs model {tuple(expected[name].shape)}"
        for name, tensor in checkpoint.state_dict.items()
        if name in expected and tensor.shape != expected[name].shape
    ]
    problems = []
    if missing:
        problems.append(f"missing {missing}")
    if unexpected:
        problems.append(f"unexpected {unexpected}")
    if mismatched:
        problems.append(f"shape mismatch {mismatched}")
    if problems:
        problem = "; ".join(problems)
        raise CheckpointError(f"{checkpoint.named(source)}: weights do not fit {type(model).__name__}: {problem}")
    model.load_state_dict(checkpoint.state_dict)
    return model
