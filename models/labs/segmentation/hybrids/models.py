"""The architectures of the segmentation-architectures lab by name: their settings, defaults per image size, and
the model a name and settings build (or a clear message why they cannot work).

The U-Net, Attention U-Net and U-Transformer stay in :mod:`models.labs.segmentation.models`; the names here are
the hybrids and pure transformers beside them.
"""

from __future__ import annotations

import dataclasses

from torch import nn

from models.labs.segmentation.hybrids.setr import SETR, SETRConfig
from models.labs.segmentation.hybrids.swin_unet import SwinUNet, SwinUNetConfig
from models.labs.segmentation.hybrids.transunet import TransUNet, TransUNetConfig

ARCHITECTURES = ("transunet", "setr", "swin_unet", "glam_swin_unet")
LABELS = {
    "transunet": "TransUNet",
    "setr": "SETR",
    "swin_unet": "Swin-UNet",
    "glam_swin_unet": "GLAM-Swin-UNet",
}
CONFIGS = {
    "transunet": TransUNetConfig,
    "setr": SETRConfig,
    "swin_unet": SwinUNetConfig,
    "glam_swin_unet": SwinUNetConfig,
}
SegArchModel = TransUNet | SETR | SwinUNet


def _check_architecture(architecture: str) -> None:
    if architecture not in ARCHITECTURES:
        raise ValueError(f"architecture must be one of {ARCHITECTURES}, got {architecture!r}")


def default_settings(architecture: str, image_size: int = 64) -> dict:
    """Settings that work at ``image_size`` (32, 64, 96 or 128): the paper's design, scaled to fit full attention
    (at most 256 tokens) and windows that tile every stage."""
    _check_architecture(architecture)
    settings: dict = {"image_size": image_size}
    if architecture == "transunet" and image_size == 32:
        settings.update(cnn_levels=3, n_skip=2)  # 4x4 tokens rather than 2x2
    elif architecture == "setr":
        settings["patch_size"] = 4 if image_size <= 64 else 8
    elif architecture in ("swin_unet", "glam_swin_unet"):
        settings["window_size"] = 6 if image_size == 96 else 4
        settings["n_global"] = 1 if architecture == "glam_swin_unet" else 0
    return settings


def make_config(architecture: str, **settings):
    """The typed, checked settings of ``architecture``: the defaults at the image size, overridden by ``settings``.
    A combination that cannot work raises a ``ValueError`` that says why."""
    _check_architecture(architecture)
    config_type = CONFIGS[architecture]
    names = {f.name for f in dataclasses.fields(config_type)}
    unknown = sorted(set(settings) - names)
    if unknown:
        raise ValueError(f"{LABELS[architecture]} has no setting {', '.join(unknown)}; its settings: {sorted(names)}")
    merged = {**default_settings(architecture, settings.get("image_size", 64)), **settings}
    if architecture == "glam_swin_unet" and merged.get("n_global", 0) < 1:
        raise ValueError("GLAM-Swin-UNet needs at least 1 global token per window (G = 0 is the plain Swin-UNet)")
    if architecture == "swin_unet" and merged.get("n_global", 0):
        raise ValueError("Swin-UNet has no global tokens; with G >= 1 it is the architecture 'glam_swin_unet'")
    return config_type(**merged)


def build_model(architecture: str, **settings) -> SegArchModel:
    """A fresh ``architecture`` with ``settings`` (see :func:`make_config`)."""
    config = make_config(architecture, **settings)
    if architecture == "transunet":
        return TransUNet(config)
    if architecture == "setr":
        return SETR(config)
    return SwinUNet(config)


def model_settings(model: nn.Module) -> dict:
    """Plain values that rebuild ``model`` with :func:`build_model` (what a checkpoint stores)."""
    return {"architecture": model.architecture, "config": dataclasses.asdict(model.config)}


def model_from_settings(settings: dict) -> SegArchModel:
    """The model that :func:`model_settings` describes (fresh weights)."""
    return build_model(settings["architecture"], **settings["config"])
