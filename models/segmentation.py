"""U-Net, Attention U-Net and U-Transformer on one shared backbone, with their internals on request.

All three share the encoder (two 3x3 Conv-BN-ReLU per level, 2x2 max-pooling), the decoder
(bilinear x2 upsampling of the decoder map Y, concatenation with the skip map S, two 3x3 convs)
and the 1x1 head. They differ in two hooks:

- the bottleneck: identity (U-Net, Attention U-Net) or multi-head self-attention with 2D sinusoidal
  positional encoding (U-Transformer, "MHSA");
- the skip connection at each level: plain (U-Net), an additive attention gate (Attention U-Net,
  Oktay et al. 2018), or multi-head cross-attention whose output gates S (U-Transformer, "MHCA",
  at every level but the finest).

``forward(x)`` returns logits ``(B, num_classes, H, W)``; ``forward(x, return_attention=True)``
returns ``(logits, SegmentationTrace)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from models.positional import sinusoidal_encoding_2d

DEPTHS = (1, 2, 3, 4)
MAX_ATTENTION_TOKENS = 256
ARCHITECTURES = ("unet", "attention_unet", "utransformer")


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
class SegmentationTrace:
    """Internals of one forward pass.

    ``bottleneck_attention``: the MHSA weights A ``(B, heads, N, N)`` over the ``bottleneck_shape``
    grid (N = h * w, row-major), or None. ``skip_gates``: per decoder level (0 = full resolution)
    the gate applied to the skip map, ``(B, C, H_l, W_l)`` in [0, 1]. ``skip_attention``: the MHCA
    weights per level ``(B, heads, n, n)``.
    """

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


def attention_weights(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """The lecture's A = softmax(Q K^T / sqrt(d_k)), softmax over the keys. q, k: (B, heads, N, d_k)."""
    return torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-1)  # (B, heads, N, N)


def _split_heads(x: torch.Tensor, n_heads: int) -> torch.Tensor:
    b, n, c = x.shape
    return x.view(b, n, n_heads, c // n_heads).transpose(1, 2)  # (B, heads, N, d_k)


def _merge_heads(x: torch.Tensor) -> torch.Tensor:
    b, heads, n, d = x.shape
    return x.transpose(1, 2).reshape(b, n, heads * d)  # (B, N, C)


def _positional_tokens(height: int, width: int, channels: int, like: torch.Tensor) -> torch.Tensor:
    """2D sinusoidal P as tokens (N, C), on ``like``'s device and dtype."""
    return sinusoidal_encoding_2d(height, width, channels).flatten(1).T.to(like)


class MultiHeadSelfAttention(nn.Module):
    """Bottleneck MHSA: tokens = pixels of the (B, C, h, w) map, with 2D sinusoidal P.

    Pre-LN residual block: X' = X + A V W_o with A = softmax(Q K^T / sqrt(d_k)),
    Q, K, V = (LN(X) + P) W_q, W_k, W_v. With W_o = 0 it is the identity, i.e. the U-Net.
    """

    def __init__(self, channels: int, n_heads: int = 4, pe_scale: float = 1.0):
        super().__init__()
        if channels % n_heads or channels % 4:
            raise ValueError(f"bottleneck channels ({channels}) must divide by the heads ({n_heads}) and by 4")
        self.n_heads = n_heads
        self.pe_scale = pe_scale
        self.norm = nn.LayerNorm(channels)
        self.W_q = nn.Linear(channels, channels)
        self.W_k = nn.Linear(channels, channels)
        self.W_v = nn.Linear(channels, channels)
        self.W_o = nn.Linear(channels, channels)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, c, h, w = x.shape
        tokens = x.flatten(2).transpose(1, 2)  # (B, N, C)
        z = self.norm(tokens) + self.pe_scale * _positional_tokens(h, w, c, x)
        q, k, v = (_split_heads(proj(z), self.n_heads) for proj in (self.W_q, self.W_k, self.W_v))
        A = attention_weights(q, k)  # (B, heads, N, N)
        out = tokens + self.W_o(_merge_heads(A @ v))  # (B, N, C)
        return out.transpose(1, 2).reshape(b, c, h, w), A


class MultiHeadCrossAttention(nn.Module):
    """U-Transformer skip MHCA: Q, K from the decoder map Y, V from the skip map S.

    Y (B, C_y, h, w) -> 1x1 Conv-BN-ReLU -> + P -> Q, K; S (B, C_s, 2h, 2w) -> 2x2 stride-2
    Conv-BN-ReLU -> + P -> V. Z = softmax(Q K^T / sqrt(d_k)) V, then 1x1 Conv-BN-sigmoid and
    bilinear x2 upsampling give the gate G in [0, 1]; the output is G * S.
    """

    def __init__(self, y_channels: int, s_channels: int, n_heads: int = 2):
        super().__init__()
        if s_channels % n_heads or s_channels % 4:
            raise ValueError(f"skip channels ({s_channels}) must divide by the heads ({n_heads}) and by 4")
        self.n_heads = n_heads
        self.conv_y = nn.Sequential(
            nn.Conv2d(y_channels, s_channels, 1, bias=False), nn.BatchNorm2d(s_channels), nn.ReLU()
        )
        self.conv_s = nn.Sequential(
            nn.Conv2d(s_channels, s_channels, 2, stride=2, bias=False), nn.BatchNorm2d(s_channels), nn.ReLU()
        )
        self.W_q = nn.Linear(s_channels, s_channels)
        self.W_k = nn.Linear(s_channels, s_channels)
        self.W_v = nn.Linear(s_channels, s_channels)
        self.gate = nn.Sequential(
            nn.Conv2d(s_channels, s_channels, 1, bias=False), nn.BatchNorm2d(s_channels), nn.Sigmoid()
        )

    def forward(self, y: torch.Tensor, s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        b, c, h, w = s.shape[0], s.shape[1], y.shape[2], y.shape[3]
        p = _positional_tokens(h, w, c, y)  # (n, C_s)
        yq = self.conv_y(y).flatten(2).transpose(1, 2) + p  # (B, n, C_s)
        sv = self.conv_s(s).flatten(2).transpose(1, 2) + p  # (B, n, C_s)
        q, k = _split_heads(self.W_q(yq), self.n_heads), _split_heads(self.W_k(yq), self.n_heads)
        A = attention_weights(q, k)  # (B, heads, n, n)
        z = _merge_heads(A @ _split_heads(self.W_v(sv), self.n_heads)).transpose(1, 2).reshape(b, c, h, w)
        G = F.interpolate(self.gate(z), size=s.shape[2:], mode="bilinear", align_corners=False)  # (B, C_s, 2h, 2w)
        return G * s, G, A


class AdditiveGate(nn.Module):
    """Attention U-Net gate: alpha = sigmoid(psi(ReLU(W_g g + W_x s))), output alpha * S (one alpha per pixel)."""

    def __init__(self, g_channels: int, s_channels: int):
        super().__init__()
        inter = max(4, s_channels // 2)
        self.W_g = nn.Sequential(nn.Conv2d(g_channels, inter, 1), nn.BatchNorm2d(inter))
        self.W_x = nn.Sequential(nn.Conv2d(s_channels, inter, 1), nn.BatchNorm2d(inter))
        self.psi = nn.Sequential(nn.Conv2d(inter, 1, 1), nn.BatchNorm2d(1), nn.Sigmoid())

    def forward(self, g_up: torch.Tensor, s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        alpha = self.psi(F.relu(self.W_g(g_up) + self.W_x(s)))  # (B, 1, H, W)
        return alpha * s, alpha


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

    def bottleneck(self, x: torch.Tensor, trace: SegmentationTrace) -> torch.Tensor:
        return x

    def skip(self, level: int, y: torch.Tensor, s: torch.Tensor, trace: SegmentationTrace) -> torch.Tensor:
        """Combine decoder map Y (coarse) with skip map S at ``level``: concat(S, upsample(Y))."""
        return torch.cat([s, F.interpolate(y, size=s.shape[2:], mode="bilinear", align_corners=False)], dim=1)

    def forward(self, x: torch.Tensor, return_attention: bool = False):
        self.check_input(x)
        trace = SegmentationTrace()
        skips = []
        for level, block in enumerate(self.encoder):
            x = block(x if level == 0 else F.max_pool2d(x, 2))
            skips.append(x)
        y = self.bottleneck(skips.pop(), trace)  # (B, C_bottom, h, w)
        for level in reversed(range(self.depth)):
            y = self.decoder[level](self.skip(level, y, skips[level], trace))
        logits = self.head(y)  # (B, num_classes, H, W)
        return (logits, trace) if return_attention else logits


class AttentionUNet(UNet):
    """U-Net with additive attention gates on every skip connection (local: same receptive field)."""

    architecture = "attention_unet"

    def __init__(self, in_channels: int = 1, num_classes: int = 2, depth: int = 2, base_channels: int = 16):
        super().__init__(in_channels, num_classes, depth, base_channels)
        self.gates = nn.ModuleList(AdditiveGate(self.widths[k + 1], self.widths[k]) for k in range(depth))

    def skip(self, level, y, s, trace):
        y_up = F.interpolate(y, size=s.shape[2:], mode="bilinear", align_corners=False)
        gated, alpha = self.gates[level](y_up, s)
        trace.skip_gates[level] = alpha
        return torch.cat([gated, y_up], dim=1)


class UTransformer(UNet):
    """U-Transformer (Petit et al. 2021): MHSA on the bottleneck, MHCA gates on the coarse skips."""

    architecture = "utransformer"

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 2,
        depth: int = 2,
        base_channels: int = 16,
        n_heads: int = 4,
        pe_scale: float = 1.0,
    ):
        super().__init__(in_channels, num_classes, depth, base_channels)
        if n_heads not in (1, 2, 4, 8):
            raise ValueError(f"heads must be 1, 2, 4 or 8, got {n_heads}")
        self.config.update(n_heads=n_heads, pe_scale=pe_scale)
        self.mhsa = MultiHeadSelfAttention(self.widths[-1], n_heads, pe_scale)
        self.mhca = nn.ModuleDict(
            {
                str(k): MultiHeadCrossAttention(self.widths[k + 1], self.widths[k], min(n_heads, 2))
                for k in range(1, depth)
            }
        )

    def check_input(self, x: torch.Tensor) -> None:
        super().check_input(x)
        tokens = (x.shape[2] >> self.depth) * (x.shape[3] >> self.depth)
        if tokens > MAX_ATTENTION_TOKENS:
            raise ValueError(
                f"a {x.shape[2]}x{x.shape[3]} image at depth {self.depth} gives {tokens} bottleneck tokens; "
                f"attention allows at most {MAX_ATTENTION_TOKENS} (use a smaller image or a deeper network)"
            )

    def bottleneck(self, x, trace):
        out, A = self.mhsa(x)
        trace.bottleneck_attention = A
        trace.bottleneck_shape = (x.shape[2], x.shape[3])
        return out

    def skip(self, level, y, s, trace):
        if str(level) not in self.mhca:
            return super().skip(level, y, s, trace)
        gated, G, A = self.mhca[str(level)](y, s)
        trace.skip_gates[level] = G
        trace.skip_attention[level] = A
        return torch.cat([gated, F.interpolate(y, size=s.shape[2:], mode="bilinear", align_corners=False)], dim=1)


MODELS: dict[str, type[UNet]] = {"unet": UNet, "attention_unet": AttentionUNet, "utransformer": UTransformer}
LABELS = {"unet": "U-Net", "attention_unet": "Attention U-Net", "utransformer": "U-Transformer"}


def build_model(architecture: str, **config) -> UNet:
    if architecture not in MODELS:
        raise ValueError(f"architecture must be one of {ARCHITECTURES}, got {architecture!r}")
    return MODELS[architecture](**config)
