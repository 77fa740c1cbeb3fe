"""What the segmentation lab shows, computed here so the page does no tensor math: scores on the fixed
validation set, one model on one image with its trace, per-pixel attention maps upsampled over the image,
the attention's mass on the striped key, skip-gate maps, the effective receptive field (Captum saliency of one
pixel's decision), and the cost of a training step and of an inference. Every architecture of
:mod:`models.labs.segmentation.architectures` goes through the same functions."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from captum.attr import Saliency
from torch import nn

from models.core.device import model_device
from models.core.evaluation import inference, predictions
from models.labs.segmentation.spec import dice_per_image, segmentation_step
from models.labs.segmentation.tasks import VALIDATION_SEED, LabTask

PREDICT_BATCH = 64


@dataclass
class Evaluation:
    """Scores on a fixed validation set: mean Dice and, per object, its evidence distance and correctness."""

    dice: float
    dice_per_image: np.ndarray
    distances: np.ndarray
    correct: np.ndarray


def evaluate(model: nn.Module, task: LabTask, n_images: int = 64, seed: int = VALIDATION_SEED) -> Evaluation:
    """Dice and object accuracy on ``n_images`` fixed validation images (at most the task's distinct ones).

    An object counts as labelled foreground when more than half of its pixels are predicted
    foreground; it is correct when that agrees with its target label (the MRI task has no objects).
    """
    n_images = min(n_images, task.n_validation or n_images)
    images, masks = task.batch(0, n_images, seed)
    batches = [(images[i : i + PREDICT_BATCH], masks[i : i + PREDICT_BATCH]) for i in range(0, n_images, PREDICT_BATCH)]
    preds = torch.cat([logits.argmax(1) for logits, _ in predictions(model, batches)])  # (N, H, W)
    dice = dice_per_image(preds, masks, task.num_classes).numpy()
    distances, correct = [], []
    for i in range(n_images):
        sample = task.sample(i, seed)
        for obj, region in zip(sample.objects, sample.object_masks if sample.objects else [], strict=True):
            labelled = preds[i].numpy()[region].mean() > 0.5
            distances.append(obj.distance)
            correct.append(labelled == obj.is_target)
    return Evaluation(float(dice.mean()), dice, np.array(distances), np.array(correct))


@dataclass
class Analysis:
    """One model on one image: foreground probability, hard prediction and its trace (batch index 0)."""

    probability: np.ndarray  # (H, W): 1 - P(class 0), the probability of any foreground class
    prediction: np.ndarray  # (H, W) int
    trace: object  # the architecture's trace: UNetTrace, TransUNetTrace, SETRTrace or SwinUNetTrace

    @property
    def has_attention(self) -> bool:
        return attention_of(self.trace) is not None


def attention_of(trace) -> torch.Tensor | None:
    """The trace's bottleneck attention (B, heads, N, N), or None where the architecture has none."""
    return getattr(trace, "bottleneck_attention", None)


def analyse(model: nn.Module, image: np.ndarray) -> Analysis:
    """Run ``model`` (eval mode) on one ``(H, W)`` image in [0, 1] with its internals."""
    x = torch.as_tensor(image, dtype=torch.float32, device=model_device(model))[None, None]  # (1, 1, H, W)
    with inference(model):
        trace = model.trace(x)
    probability = 1 - torch.softmax(trace.output, dim=1)[0, 0]
    return Analysis(probability.cpu().numpy(), trace.output[0].argmax(0).cpu().numpy(), trace)


def pixel_attention(trace, row: int, col: int, size: tuple[int, int]) -> np.ndarray:
    """Bottleneck attention of the token under pixel (row, col), per head, upsampled to the image: (heads, H, W).

    Row q of A (the query at that pixel's bottleneck cell) reshaped to the (h, w) grid; bilinear
    upsampling spreads each cell's weight over the pixels it covers (the maps keep their pattern, not
    their sum).
    """
    attention = attention_of(trace)
    if attention is None:
        raise ValueError("this model has no attention (the U-Net and the Attention U-Net are convolutional)")
    H, W = size
    if not (0 <= row < H and 0 <= col < W):
        raise ValueError(f"pixel ({row}, {col}) lies outside the {H}x{W} image")
    h, w = trace.bottleneck_shape
    query = (row * h // H) * w + col * w // W
    A = attention[0, :, query].reshape(1, -1, h, w).float()  # (1, heads, h, w)
    return F.interpolate(A, size=size, mode="bilinear", align_corners=False)[0].cpu().numpy()


def gate_maps(trace) -> dict[int, np.ndarray]:
    """Each level's skip gate averaged over channels, ``{level: (H_l, W_l)}`` in [0, 1]."""
    return {level: gate[0].mean(0).cpu().numpy() for level, gate in sorted(trace.skip_gates.items())}


def effective_receptive_field(model: nn.Module, image: np.ndarray, row: int, col: int) -> np.ndarray:
    """|d logit_fg(row, col) / d input| over the image (Captum saliency), shape (H, W).

    The largest foreground logit minus the background logit, so it is the gradient of the decision.
    """
    model.eval()
    x = torch.as_tensor(image, dtype=torch.float32, device=model_device(model))[None, None].requires_grad_(True)

    def decision(inputs: torch.Tensor) -> torch.Tensor:
        logits = model(inputs)
        return (logits[:, 1:, row, col].max(1).values - logits[:, 0, row, col])[:, None]  # (B, 1)

    saliency = Saliency(decision).attribute(x, target=0, abs=True)
    return saliency[0, 0].detach().cpu().numpy()


def shared_log_range(saliencies: list[np.ndarray], decades: float = 4.0) -> tuple[float, float]:
    """One log10 colour range for several saliency maps: from ``decades`` below the largest value of all to it."""
    peaks = [float(s.max()) for s in saliencies if s.max() > 0]
    top = float(np.log10(max(peaks))) if peaks else 0.0
    return top - decades, top


@dataclass
class KeyAttention:
    """The bottleneck attention's mass on the striped key's cells, from the cells under target-blob pixels, as a
    multiple of what uniform attention puts there: ``head_mean`` of the heads' mean map (the mean of ``per_head``,
    the ratio being linear in A), ``per_head`` of each head; ``n_pixels`` the target pixels averaged over."""

    head_mean: float
    per_head: np.ndarray  # (heads,)
    n_pixels: int

    @property
    def best_head(self) -> float:
        return float(self.per_head.max())


def key_attention(model: nn.Module, task: LabTask, n_images: int = 16, seed: int = VALIDATION_SEED) -> KeyAttention:
    """Mass of A's rows on the key over uniform, averaged over every target-blob pixel of ``n_images`` images.

    A pixel's query is the bottleneck cell under it, so cell q counts as often as it holds target pixels (t_q of
    them). The key's weight on cell j is the share c_j of j's pixels inside the key box, so row q's mass on the key
    is sum_j A_qj c_j and uniform attention's sum_j c_j / N.
    """
    if not task.long_range:
        raise ValueError("only the long-range task has a key to look at")
    images, masks = task.batch(0, n_images, seed)
    with inference(model):
        A = attention_of(model.trace(images.to(model_device(model))))
    if A is None:
        raise ValueError("this model has no attention (the U-Net and the Attention U-Net are convolutional)")
    A = A.float().cpu()  # (B, heads, N, N)
    grid = _attention_grid(A.shape[-1], images.shape[-2:])
    key = torch.zeros_like(masks, dtype=torch.float32)  # (B, H, W)
    for i in range(n_images):
        r0, c0, r1, c1 = task.sample(i, seed).key_box
        key[i, r0:r1, c0:c1] = 1.0
    coverage = F.adaptive_avg_pool2d(key[:, None], grid).flatten(1)  # (B, N): c_j
    targets = F.adaptive_avg_pool2d(masks[:, None].float(), grid).flatten(1)  # (B, N): t_q, up to a constant
    uniform = coverage.sum(1) / coverage.shape[1]  # (B,)
    ratio = torch.einsum("bhqk,bk->bhq", A, coverage) / uniform[:, None, None]  # (B, heads, N)
    per_head = (ratio * targets[:, None]).sum((0, 2)) / targets.sum()  # (heads,)
    return KeyAttention(float(per_head.mean()), per_head.numpy(), int(masks.sum()))


def _attention_grid(n_tokens: int, size: torch.Size) -> tuple[int, int]:
    """The (h, w) token grid of N tokens over an image of ``size`` (H, W) with square cells."""
    side = int(round((n_tokens * size[1] / size[0]) ** 0.5))
    return n_tokens // side, side


@dataclass
class Cost:
    """Wall-clock cost, medians of a few repeats: one training step (forward, backward, AdamW) and one inference on
    the same batch."""

    step_ms: float
    inference_ms: float
    parameters: int


def cost(model: nn.Module, task: LabTask, batch_size: int = 16, repeats: int = 3) -> Cost:
    """Time ``model`` (trained in place: it takes ``repeats + 1`` optimiser steps) on one batch of ``task``."""
    images, masks = task.batch(0, batch_size)
    device = model_device(model)
    batch = (images.to(device), masks.to(device))
    optimiser = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model.train()
    step_times, inference_times = [], []
    for _ in range(repeats + 1):  # the first of each is a warm-up
        started = time.perf_counter()
        optimiser.zero_grad()
        segmentation_step(model, batch, None).loss.backward()
        optimiser.step()
        step_times.append(time.perf_counter() - started)
        with inference(model):
            started = time.perf_counter()
            model(batch[0])
            inference_times.append(time.perf_counter() - started)
    parameters = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return Cost(1000 * float(np.median(step_times[1:])), 1000 * float(np.median(inference_times[1:])), parameters)
