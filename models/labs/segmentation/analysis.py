"""What the segmentation lab shows, computed here so the page does no tensor math: scores on the fixed
validation set, one model on one image with its trace, per-pixel attention maps upsampled over the image,
skip-gate maps, and the effective receptive field (Captum saliency of one pixel's decision)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from captum.attr import Saliency

from models.blocks.unet import UNet, UNetTrace
from models.core.device import model_device
from models.core.evaluation import inference, predictions
from models.data.ct_slices import SegmentationTask, generate_batch, generate_sample
from models.labs.segmentation.spec import dice_per_image

VALIDATION_SEED = 12345
PREDICT_BATCH = 64


@dataclass
class Evaluation:
    """Scores on a fixed validation set: mean Dice and, per object, its evidence distance and correctness."""

    dice: float
    dice_per_image: np.ndarray
    distances: np.ndarray
    correct: np.ndarray


def evaluate(model: UNet, task: SegmentationTask, n_images: int = 64, seed: int = VALIDATION_SEED) -> Evaluation:
    """Dice and object accuracy on ``n_images`` fixed slices.

    An object counts as labelled foreground when more than half of its pixels are predicted
    foreground; it is correct when that agrees with its target label.
    """
    images, masks = generate_batch(task, seed, 0, n_images)
    batches = [(images[i : i + PREDICT_BATCH], masks[i : i + PREDICT_BATCH]) for i in range(0, n_images, PREDICT_BATCH)]
    preds = torch.cat([logits.argmax(1) for logits, _ in predictions(model, batches)])  # (N, H, W)
    dice = dice_per_image(preds, masks).numpy()
    distances, correct = [], []
    for i in range(n_images):
        sample = generate_sample(task, seed, i)
        for obj, region in zip(sample.objects, sample.object_masks, strict=True):
            labelled = preds[i].numpy()[region].mean() > 0.5
            distances.append(obj.distance)
            correct.append(labelled == obj.is_target)
    return Evaluation(float(dice.mean()), dice, np.array(distances), np.array(correct))


@dataclass
class Analysis:
    """One model on one image: foreground probability, hard prediction and its trace (batch index 0)."""

    probability: np.ndarray  # (H, W)
    prediction: np.ndarray  # (H, W) int
    trace: UNetTrace


def analyse(model: UNet, image: np.ndarray) -> Analysis:
    """Run ``model`` (eval mode) on one ``(H, W)`` image in [0, 1] with its internals."""
    x = torch.as_tensor(image, dtype=torch.float32, device=model_device(model))[None, None]  # (1, 1, H, W)
    with inference(model):
        trace = model.trace(x)
    probability = torch.softmax(trace.output, dim=1)[0, 1]
    return Analysis(probability.cpu().numpy(), trace.output[0].argmax(0).cpu().numpy(), trace)


def pixel_attention(trace: UNetTrace, row: int, col: int, size: tuple[int, int]) -> np.ndarray:
    """Bottleneck attention of the token under pixel (row, col), per head, upsampled to the image: (heads, H, W).

    Row q of A (the query at that pixel's bottleneck cell) reshaped to the (h, w) grid; bilinear
    upsampling spreads each cell's weight over the pixels it covers (the maps keep their pattern, not
    their sum).
    """
    if trace.bottleneck_attention is None:
        raise ValueError("this model has no bottleneck attention (only the U-Transformer has)")
    H, W = size
    if not (0 <= row < H and 0 <= col < W):
        raise ValueError(f"pixel ({row}, {col}) lies outside the {H}x{W} image")
    h, w = trace.bottleneck_shape
    query = (row * h // H) * w + col * w // W
    A = trace.bottleneck_attention[0, :, query].reshape(1, -1, h, w).float()  # (1, heads, h, w)
    return F.interpolate(A, size=size, mode="bilinear", align_corners=False)[0].cpu().numpy()


def gate_maps(trace: UNetTrace) -> dict[int, np.ndarray]:
    """Each level's skip gate averaged over channels, ``{level: (H_l, W_l)}`` in [0, 1]."""
    return {level: gate[0].mean(0).cpu().numpy() for level, gate in sorted(trace.skip_gates.items())}


def effective_receptive_field(model: UNet, image: np.ndarray, row: int, col: int) -> np.ndarray:
    """|d logit_fg(row, col) / d input| over the image (Captum saliency), shape (H, W).

    The foreground logit minus the background logit, so it is the gradient of the decision.
    """
    model.eval()
    x = torch.as_tensor(image, dtype=torch.float32, device=model_device(model))[None, None].requires_grad_(True)

    def decision(inputs: torch.Tensor) -> torch.Tensor:
        logits = model(inputs)
        return (logits[:, 1, row, col] - logits[:, 0, row, col])[:, None]  # (B, 1)

    saliency = Saliency(decision).attribute(x, target=0, abs=True)
    return saliency[0, 0].detach().cpu().numpy()


def shared_log_range(saliencies: list[np.ndarray], decades: float = 4.0) -> tuple[float, float]:
    """One log10 colour range for several saliency maps: from ``decades`` below the largest value of all to it."""
    peaks = [float(s.max()) for s in saliencies if s.max() > 0]
    top = float(np.log10(max(peaks))) if peaks else 0.0
    return top - decades, top
