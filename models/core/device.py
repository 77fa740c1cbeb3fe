"""Device selection, the device a model lives on, and reproducible seeding."""

from __future__ import annotations

import os
import random

import numpy as np
import torch

DEVICE_ENV_VAR = "SEQLAB_DEVICE"


def default_device() -> torch.device:
    """CUDA when available, else CPU; the environment variable ``SEQLAB_DEVICE`` overrides both.

    ``SEQLAB_DEVICE`` takes any torch device string ("cpu", "cuda", "cuda:1"). Asking for CUDA on a
    machine without it is an error, not a silent fallback.
    """
    requested = os.environ.get(DEVICE_ENV_VAR, "").strip()
    if not requested:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(requested)
    except RuntimeError as error:
        raise ValueError(f"{DEVICE_ENV_VAR}={requested!r} is not a torch device: {error}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"{DEVICE_ENV_VAR}={requested!r} asks for CUDA, but no CUDA device is available")
    return device


def device_label(device: torch.device) -> str:
    """Human-readable name: "CPU" or the CUDA device's name."""
    if device.type == "cuda":
        return f"CUDA: {torch.cuda.get_device_name(device)}"
    return device.type.upper()


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch (CPU and CUDA); returns a CPU generator seeded the same way."""
    if not 0 <= seed < 2**32:
        raise ValueError(f"seed must be in [0, 2**32), got {seed}")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def model_device(model: torch.nn.Module) -> torch.device:
    """The device a model's parameters live on (CPU for a model without parameters)."""
    parameter = next(model.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")
