"""Every architecture of the segmentation lab by name, built one way: the U-Net family of
:mod:`models.labs.segmentation.models` and the hybrids and pure transformers of :mod:`models.labs.segmentation.hybrids`.

A name, an image size, the classes, the U-Net depth (U-Net family) and SETR's decoder give a model, or a
``ValueError`` that says why that combination cannot work.
"""

from __future__ import annotations

from torch import nn

from models.blocks.unet import DEPTHS, theoretical_receptive_field
from models.labs.segmentation import models as unets
from models.labs.segmentation.hybrids import models as hybrids
from models.labs.segmentation.hybrids.setr import DECODERS

ARCHITECTURES = unets.ARCHITECTURES + hybrids.ARCHITECTURES
LABELS = {**unets.LABELS, **hybrids.LABELS}
UNET_FAMILY = unets.ARCHITECTURES
GLOBAL_REACH = ("utransformer", "transunet", "setr", "glam_swin_unet")  # some layer sees every position


def check_architecture(architecture: str) -> None:
    if architecture not in ARCHITECTURES:
        raise ValueError(f"architecture must be one of {ARCHITECTURES}, got {architecture!r}")


def build(
    architecture: str,
    image_size: int,
    num_classes: int = 2,
    depth: int = 2,
    decoder: str = "pup",
    cross_attention: bool = True,
) -> nn.Module:
    """A fresh model for ``image_size`` x ``image_size`` grey images; refuses, with the reason, a combination that
    cannot work (too many attention tokens, windows that do not tile, a depth or decoder that does not exist).
    ``depth``: the U-Net family's poolings; ``decoder``: SETR's; ``cross_attention``: the U-Transformer's MHCA skips
    (off: the "MHSA only" ablation)."""
    check_architecture(architecture)
    if architecture in UNET_FAMILY:
        if depth not in DEPTHS:
            raise ValueError(f"depth must be one of {DEPTHS}, got {depth}")
        extra = {"cross_attention": cross_attention} if architecture == "utransformer" else {}
        model = unets.build_model(architecture, num_classes=num_classes, depth=depth, **extra)
        model.check_input(model.head.weight.new_zeros(1, 1, image_size, image_size))
        return model
    settings = {"image_size": image_size, "num_classes": num_classes}
    if architecture == "setr":
        if decoder not in DECODERS:
            raise ValueError(f"SETR's decoder must be one of {DECODERS}, got {decoder!r}")
        settings["decoder"] = decoder
    return hybrids.build_model(architecture, **settings)


def model_settings(model: nn.Module) -> dict:
    """Plain values that rebuild ``model`` (what a checkpoint stores): its architecture and its config."""
    if model.architecture in UNET_FAMILY:
        return {"architecture": model.architecture, "config": dict(model.config)}
    return hybrids.model_settings(model)


def model_from_settings(settings: dict) -> nn.Module:
    """The model :func:`model_settings` describes (fresh weights)."""
    if settings["architecture"] in UNET_FAMILY:
        return unets.build_model(settings["architecture"], **settings["config"])
    return hybrids.model_from_settings(settings)


def receptive_field(model: nn.Module) -> int | None:
    """The convolutional receptive field (px) of a U-Net-family model; None where attention reaches the image."""
    if model.architecture in ("unet", "attention_unet"):
        return theoretical_receptive_field(model.depth)
    return None


def label(architecture: str, decoder: str = "pup", cross_attention: bool = True) -> str:
    """The architecture's name as the page writes it: SETR with its decoder, the U-Transformer without its skip
    cross-attention as "MHSA only"."""
    check_architecture(architecture)
    if architecture == "setr":
        return f"SETR-{'naive' if decoder == 'naive' else decoder.upper()}"
    if architecture == "utransformer" and not cross_attention:
        return "U-Transformer (MHSA only)"
    return LABELS[architecture]


def model_label(model: nn.Module) -> str:
    """:func:`label` of a built model."""
    if model.architecture == "setr":
        return label("setr", decoder=model.config.decoder)
    if model.architecture == "utransformer":
        return label("utransformer", cross_attention=model.config["cross_attention"])
    return label(model.architecture)
