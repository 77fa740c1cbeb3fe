"""One digit explained: what the CLS token attends to (per layer and head, and rolled out) and which pixels
move the class logit (Integrated Gradients)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from captum.attr import IntegratedGradients

from models.core.device import model_device
from models.core.evaluation import inference
from models.labs.vit.model import ViT


def integrated_gradients(model: ViT, image: torch.Tensor, target: int, steps: int = 32) -> np.ndarray:
    """Captum's Integrated Gradients of the class logit w.r.t. each pixel (baseline: a black image), (H, W)."""
    model.eval()
    x = image[None].to(model_device(model))  # (1, H, W)
    attribution = IntegratedGradients(model).attribute(x, baselines=torch.zeros_like(x), target=target, n_steps=steps)
    return attribution[0].detach().cpu().numpy()


@dataclass
class ViTExplanation:
    """One image explained: class probabilities, CLS attention (L, H, g, g), its rollout (g, g), IG (H, W)."""

    probabilities: np.ndarray
    prediction: int
    cls_attention: np.ndarray
    rollout: np.ndarray
    attribution: np.ndarray


def explain(model: ViT, image: torch.Tensor, ig_steps: int = 32) -> ViTExplanation:
    """Attention (what CLS looks at) and attribution (what moves the logit) for one ``(H, W)`` image."""
    grid = model.config.grid
    with inference(model):
        trace = model.trace(image[None].to(model_device(model)))
    probabilities = trace.output.softmax(-1)[0].cpu().numpy()
    prediction = int(probabilities.argmax())
    cls_attention = trace.cls_attention()[:, 0]  # (L, H, N)
    return ViTExplanation(
        probabilities=probabilities,
        prediction=prediction,
        cls_attention=cls_attention.reshape(*cls_attention.shape[:2], grid, grid).cpu().numpy(),
        rollout=trace.cls_rollout()[0].reshape(grid, grid).cpu().numpy(),
        attribution=integrated_gradients(model, image, prediction, ig_steps),
    )
