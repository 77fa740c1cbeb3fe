"""The U-Net backbone and its receptive field: the encoder (two 3x3 Conv-BN-ReLU per level, 2x2
max-pooling), the decoder (bilinear x2 upsampling of the decoder map Y, concatenation with the skip map S,
two 3x3 convs) and the 1x1 head.

Variants override two hooks: :meth:`UNet.bottleneck` (identity here) and :meth:`UNet.skip` (plain
concatenation here), and record what they compute in the :class:`UNetTrace` that ``trace(x)`` returns.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

DEPTHS = (1, 2, 3, 4)


def theoretical_receptive_field(depth: int) -> int:
    """Side in pixels of the input region that can influence one output pixel of a depth-``depth`` U-Net.

    Exact interval arithmetic along one axis, backwards from an output pixel through every path:
    a 3x3 conv widens an interval by one pixel each side; a 2x2 max-pool maps coarse [lo, hi] to
    fine [2 lo, 2 hi + 1]; a bilinear x2 upsampling (align_corners=False) reads coarse pixels
    {m - 1, m} for fine 2m and {m, m + 1} for fine 2m + 1. The largest span over output positions.
    """
    _check_depth(depth)
    spans = []
    for position in range(2**depth):
        lo, hi = _decoder_interval(0, depth, position, position)
        spans.append(hi - lo + 1)
    return max(spans)


def _encoder_interval(level: int, lo: int, hi: int) -> tuple[int, int]:
    lo, hi = lo - 2, hi + 2  # two 3x3 convs
    if level == 0:
        return lo, hi
    return _encoder_interval(level - 1, 2 * lo, 2 * hi + 1)  # max-pool from the finer level


def _decoder_interval(level: int, depth: int, lo: int, hi: int) -> tuple[int, int]:
    lo, hi = lo - 2, hi + 2  # two 3x3 convs after the concatenation
    skip = _encoder_interval(level, lo, hi)
    coarse_lo = lo // 2 - 1 if lo % 2 == 0 else lo // 2
    coarse_hi = hi // 2 if hi % 2 == 0 else hi // 2 + 1
    if level + 1 == depth:
        up = _encoder_interval(depth, coarse_lo, coarse_hi)
    else:
        up = _decoder_interval(level + 1, depth, coarse_lo, coarse_hi)
    return min(skip[0], up[0]), max(skip[1], up[1])


def _check_depth(depth: int) -> None:
    if isinstance(depth, bool) or not isinstance(depth, int) or depth not in DEPTHS:
        raise ValueError(f"U-Net depth must be one of {DEPTHS}, got {depth!r}")


@dataclass
class UNetTrace:
    """Internals of one forward pass: ``output`` logits ``(B, num_classes, H, W)``, and what the hooks record.

    ``bottleneck_attention``: the MHSA weights A ``(B, heads, N, N)`` over the ``bottleneck_shape``
    grid (N = h * w, row-major), or None. ``skip_gates``: per decoder level (0 = full resolution)
    the gate applied to the skip map, ``(B, C, H_l, W_l)`` in [0, 1]. ``skip_attention``: the MHCA
    weights per level ``(B, heads, n, n)``.
    """

    output: torch.Tensor | None = None
    bottleneck_attention: torch.Tensor | None = None
    bottleneck_shape: tuple[int, int] = (0, 0)
    skip_gates: dict[int, torch.Tensor] = field(default_factory=dict)
    skip_attention: dict[int, torch.Tensor] = field(default_factory=dict)


class DoubleConv(nn.Sequential):
    """Two 3x3 Conv-BN-ReLU."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__(
            nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )


class UNet(nn.Module):
    """The plain U-Net; subclasses override :meth:`bottleneck` and :meth:`skip`."""

    architecture = "unet"

    def __init__(self, in_channels: int = 1, num_classes: int = 2, depth: int = 2, base_channels: int = 16):
        super().__init__()
        _check_depth(depth)
        if not 1 <= in_channels <= 4:
            raise ValueError(f"in_channels must be between 1 and 4, got {in_channels}")
        if not 2 <= num_classes <= 16:
            raise ValueError(f"num_classes must be between 2 and 16, got {num_classes}")
        if base_channels not in (4, 8, 16, 32):
            raise ValueError(f"base_channels must be 4, 8, 16 or 32, got {base_channels}")
        self.config = {
            "in_channels": in_channels,
            "num_classes": num_classes,
            "depth": depth,
            "base_channels": base_channels,
        }
        self.depth = depth
        self.widths = [base_channels * 2**level for level in range(depth + 1)]
        ins = [in_channels, *self.widths[:-1]]
        self.encoder = nn.ModuleList(DoubleConv(i, o) for i, o in zip(ins, self.widths, strict=True))
        self.decoder = nn.ModuleList(
            DoubleConv(self.widths[k + 1] + self.widths[k], self.widths[k]) for k in range(depth)
        )
        self.head = nn.Conv2d(self.widths[0], num_classes, 1)

    @property
    def receptive_field(self) -> int:
        """Theoretical receptive field (px) of the convolutional path; see :func:`theoretical_receptive_field`."""
        return theoretical_receptive_field(self.depth)

    def check_input(self, x: torch.Tensor) -> None:
        if x.ndim != 4 or x.shape[1] != self.config["in_channels"]:
            raise ValueError(f"expected images (B, {self.config['in_channels']}, H, W), got {tuple(x.shape)}")
        factor = 2**self.depth
        if x.shape[2] % factor or x.shape[3] % factor:
            raise ValueError(f"image sides must be multiples of 2^depth = {factor}, got {tuple(x.shape[2:])}")

    def bottleneck(self, x: torch.Tensor, trace: UNetTrace) -> torch.Tensor:
        return x

    def skip(self, level: int, y: torch.Tensor, s: torch.Tensor, trace: UNetTrace) -> torch.Tensor:
        """Combine decoder map Y (coarse) with skip map S at ``level``: concat(S, upsample(Y))."""
        return torch.cat([s, upsample_to(y, s)], dim=1)

    def trace(self, x: torch.Tensor) -> UNetTrace:
        self.check_input(x)
        trace = UNetTrace()
        skips = []
        for level, block in enumerate(self.encoder):
            x = block(x if level == 0 else F.max_pool2d(x, 2))
            skips.append(x)
        y = self.bottleneck(skips.pop(), trace)  # (B, C_bottom, h, w)
        for level in reversed(range(self.depth)):
            y = self.decoder[level](self.skip(level, y, skips[level], trace))
        trace.output = self.head(y)  # (B, num_classes, H, W)
        return trace

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.trace(x).output


def upsample_to(y: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Bilinear resize of the map ``y`` to the spatial size of ``like``."""
    return F.interpolate(y, size=like.shape[2:], mode="bilinear", align_corners=False)
