"""What a training run will hold in memory, estimated from its spec before it starts, and the per-run budget.

A run holds its model's parameters several times over (weights, gradients, Adam's two moments, the engine's
last finite weights, the published snapshot) plus the activations autograd keeps for the backward pass.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from torch import nn

COPIES_OF_PARAMETERS = 6  # weights, gradients, Adam m and v, last finite weights, snapshot
FIXED_BYTES = 25 * 2**20  # kernels' workspaces and allocator slack, measured on a 1-layer LSTM (H = 64)


@dataclass(frozen=True)
class MemoryEstimate:
    parameter_bytes: int
    activation_bytes: int

    @property
    def total_mb(self) -> float:
        return (self.parameter_bytes + self.activation_bytes + FIXED_BYTES) / 2**20

    def __add__(self, other: MemoryEstimate) -> MemoryEstimate:
        return MemoryEstimate(
            self.parameter_bytes + other.parameter_bytes, self.activation_bytes + other.activation_bytes
        )

    def check(self, budget_mb: float | None = None) -> None:
        """Refuse (``ValueError``) a run whose estimate exceeds ``budget_mb`` (default :func:`run_budget_mb`)."""
        budget_mb = run_budget_mb() if budget_mb is None else budget_mb
        if self.total_mb > budget_mb:
            raise ValueError(
                f"this run would need about {self.total_mb:,.0f} MB (parameters and optimizer "
                f"{self.parameter_bytes / 2**20:,.0f} MB, activations {self.activation_bytes / 2**20:,.0f} MB), "
                f"over this server's {budget_mb:,.0f} MB per run: a smaller hidden size, fewer layers, one "
                "direction or a shorter sequence fits"
            )


def parameter_bytes(model: nn.Module) -> int:
    """The bytes a training run holds per parameter, all copies."""
    return COPIES_OF_PARAMETERS * sum(p.numel() * p.element_size() for p in model.parameters())


def run_budget_mb(environ=os.environ) -> float:
    """The memory one run may use on this server: ``SEQLAB_RUN_MEMORY_MB``, default 1024."""
    return float(environ.get("SEQLAB_RUN_MEMORY_MB", 1024))
