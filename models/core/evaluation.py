"""The classification step and evaluation, written once for every lab.

A batch is ``(inputs..., targets)``: the model is called as ``model(*inputs)`` and ``targets`` holds a
class index per output (``IGNORE_INDEX`` where there is nothing to score).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

from models.core.device import model_device
from models.core.engine import StepContext, StepOutput

IGNORE_INDEX = -100


def classification_output(
    logits: torch.Tensor, targets: torch.Tensor, probes: dict[str, torch.Tensor] | None = None
) -> StepOutput:
    """Cross-entropy over the scored targets and their accuracy; ``logits`` (..., C), ``targets`` (...)."""
    logits, targets = logits.reshape(-1, logits.shape[-1]), targets.reshape(-1)  # (N, C), (N,)
    scored = targets != IGNORE_INDEX
    loss = F.cross_entropy(logits, targets, ignore_index=IGNORE_INDEX)
    accuracy = (logits.argmax(-1)[scored] == targets[scored]).float().mean()
    return StepOutput(loss=loss, metrics={"accuracy": accuracy.detach()}, probes=probes or {})


def regression_output(prediction: torch.Tensor, targets: torch.Tensor, tolerance: float) -> StepOutput:
    """Mean squared error; "accuracy" is the share of predictions within ``tolerance`` of their target."""
    loss = F.mse_loss(prediction, targets)
    within = ((prediction - targets).abs() < tolerance).float().mean()
    return StepOutput(loss=loss, metrics={"accuracy": within.detach(), "mse": loss.detach()})


def classification_step(model: nn.Module, batch: tuple, context: StepContext) -> StepOutput:
    """The engine's step for a batch ``(inputs..., targets)``: cross-entropy and accuracy."""
    *inputs, targets = batch
    return classification_output(model(*inputs), targets)


@contextmanager
def inference(model: nn.Module) -> Iterator[nn.Module]:
    """Evaluation mode without gradients; the model's train/eval mode is restored afterwards."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield model
    finally:
        model.train(was_training)


def predictions(model: nn.Module, batches: Iterable[tuple]) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """``(output, targets)`` per batch of ``(inputs..., targets)``: the model runs on its device in
    inference mode, the outputs come back on the CPU."""
    device = model_device(model)
    with inference(model):
        for *inputs, targets in batches:
            yield model(*(x.to(device) for x in inputs)).cpu(), targets


def accuracy(model: nn.Module, batches: Iterable[tuple]) -> float:
    """Classification accuracy of ``model`` over ``batches`` (targets ``IGNORE_INDEX`` not scored)."""
    correct = total = 0
    for logits, targets in predictions(model, batches):
        scored = targets != IGNORE_INDEX
        correct += int((logits.argmax(-1)[scored] == targets[scored]).sum())
        total += int(scored.sum())
    return correct / max(total, 1)


def within_tolerance(model: nn.Module, batches: Iterable[tuple], tolerance: float) -> float:
    """The share of regression outputs within ``tolerance`` of their targets over ``batches``."""
    hits = [((output - targets).abs() < tolerance).float().flatten() for output, targets in predictions(model, batches)]
    return float(torch.cat(hits).mean())
