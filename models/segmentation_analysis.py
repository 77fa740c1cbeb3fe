"""What the segmentation page shows, computed here so the page does no tensor math.

Per-pixel attention maps upsampled over the image, skip-gate maps, the effective receptive field
(Captum saliency of one pixel's logit), and validated grayscale uploads.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from captum.attr import Saliency
from PIL import Image, UnidentifiedImageError

from models.segmentation import SegmentationTrace, UNet

MAX_UPLOAD_BYTES = 5 * 1024 * 1024
MAX_UPLOAD_PIXELS = 4096 * 4096
UPLOAD_FORMATS = ("PNG", "JPEG")


@dataclass
class Analysis:
    """One model on one image: foreground probability, hard prediction and its trace (batch index 0)."""

    probability: np.ndarray  # (H, W)
    prediction: np.ndarray  # (H, W) int
    trace: SegmentationTrace


@torch.no_grad()
def analyse(model: UNet, image: np.ndarray) -> Analysis:
    """Run ``model`` (eval mode) on one ``(H, W)`` image in [0, 1] with its attention returned."""
    model.eval()
    device = next(model.parameters()).device
    x = torch.as_tensor(image, dtype=torch.float32, device=device)[None, None]  # (1, 1, H, W)
    logits, trace = model(x, return_attention=True)
    probability = torch.softmax(logits, dim=1)[0, 1]
    return Analysis(probability.cpu().numpy(), logits[0].argmax(0).cpu().numpy(), trace)


def pixel_attention(trace: SegmentationTrace, row: int, col: int, size: tuple[int, int]) -> np.ndarray:
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


def gate_maps(trace: SegmentationTrace) -> dict[int, np.ndarray]:
    """Each level's skip gate averaged over channels, ``{level: (H_l, W_l)}`` in [0, 1]."""
    return {level: gate[0].mean(0).cpu().numpy() for level, gate in sorted(trace.skip_gates.items())}


def effective_receptive_field(model: UNet, image: np.ndarray, row: int, col: int) -> np.ndarray:
    """|d logit_fg(row, col) / d input| over the image (Captum saliency), shape (H, W).

    The foreground logit minus the background logit, so it is the gradient of the decision.
    """
    model.eval()
    device = next(model.parameters()).device
    x = torch.as_tensor(image, dtype=torch.float32, device=device)[None, None].requires_grad_(True)

    def decision(inputs: torch.Tensor) -> torch.Tensor:
        logits = model(inputs)
        return (logits[:, 1, row, col] - logits[:, 0, row, col])[:, None]  # (B, 1)

    saliency = Saliency(decision).attribute(x, target=0, abs=True)
    return saliency[0, 0].detach().cpu().numpy()


def load_grayscale_image(data: bytes, size: int = 64) -> tuple[np.ndarray, list[str]]:
    """Decode an uploaded PNG/JPEG to a ``(size, size)`` float image in [0, 1]; returns it and what was changed.

    Refuses what is not a PNG/JPEG, larger than 5 MB or 4096x4096 px; converts colour and alpha
    (composited on black) to grayscale; resizes to ``size`` (the model's input side).
    """
    if len(data) > MAX_UPLOAD_BYTES:
        raise ValueError(f"the file is {len(data) / 1e6:.1f} MB; the limit is {MAX_UPLOAD_BYTES / 1e6:.0f} MB")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            picture = Image.open(io.BytesIO(data))
            if picture.width * picture.height > MAX_UPLOAD_PIXELS:
                raise ValueError(f"the image is {picture.width}x{picture.height} px; the limit is 4096x4096")
            if picture.format not in UPLOAD_FORMATS:
                raise ValueError(f"the file is a {picture.format} image; upload a PNG or JPEG")
            picture.load()
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as error:
        raise ValueError(f"the image is too large; the limit is 4096x4096 px ({error})") from None
    except (UnidentifiedImageError, OSError, SyntaxError) as error:
        raise ValueError(f"the file is not a readable PNG or JPEG image ({error})") from None
    notes = []
    if picture.mode in ("RGBA", "LA", "PA") or "transparency" in picture.info:
        rgba = picture.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        picture = Image.alpha_composite(background, rgba)
        notes.append("transparent pixels composited on black")
    if picture.mode not in ("L", "I;16", "I", "F"):
        notes.append(f"{picture.mode} converted to grayscale")
    gray = np.asarray(picture.convert("F"), dtype=np.float64)
    if picture.size != (size, size):
        notes.append(f"resized from {picture.width}x{picture.height} to {size}x{size}")
        gray = np.asarray(Image.fromarray(gray.astype(np.float32), mode="F").resize((size, size), Image.BILINEAR))
    low, high = float(gray.min()), float(gray.max())
    if high - low < 1e-6:
        raise ValueError("the image is a single flat colour; there is nothing to segment")
    return ((gray - low) / (high - low)).astype(np.float32), notes
