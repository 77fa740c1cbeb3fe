"""Attention U-Net and U-Transformer on the package's U-Net backbone, their attention the package's one.

They differ from the U-Net in its two hooks:

- the bottleneck: multi-head self-attention with 2D sinusoidal positional encoding (U-Transformer, "MHSA");
- the skip connection at each level: an additive attention gate (Attention U-Net, Oktay et al. 2018), or
  multi-head cross-attention whose output gates S (U-Transformer, "MHCA", at every level but the finest).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from models.blocks.attention import MultiHeadAttention
from models.blocks.positional import sinusoidal_tokens_2d
from models.blocks.unet import UNet, UNetTrace, upsample_to

MAX_ATTENTION_TOKENS = 256
ARCHITECTURES = ("unet", "attention_unet", "utransformer")
LABELS = {"unet": "U-Net", "attention_unet": "Attention U-Net", "utransformer": "U-Transformer"}


def _tokens(x: torch.Tensor) -> torch.Tensor:
    return x.flatten(2).transpose(1, 2)  # (B, C, h, w) -> (B, h*w, C)


def _positional_tokens(x: torch.Tensor) -> torch.Tensor:
    """The 2D sinusoidal P of the map ``x`` (B, C, h, w) as tokens (h*w, C), on its device and dtype."""
    return sinusoidal_tokens_2d(x.shape[2], x.shape[3], x.shape[1]).to(x)


class BottleneckSelfAttention(nn.Module):
    """Bottleneck MHSA: tokens = pixels of the (B, C, h, w) map, with 2D sinusoidal P.

    Pre-LN residual block: X' = X + MHA(LN(X) + P), A = softmax(Q K^T / sqrt(d_head)) per head, its output
    through W_o. With W_o = 0 it is the identity, i.e. the U-Net.
    """

    def __init__(self, channels: int, n_heads: int = 4, pe_scale: float = 1.0):
        super().__init__()
        if channels % n_heads or channels % 4:
            raise ValueError(f"bottleneck channels ({channels}) must divide by the heads ({n_heads}) and by 4")
        self.pe_scale = pe_scale
        self.norm = nn.LayerNorm(channels)
        self.attention = MultiHeadAttention(channels, n_heads)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(X', A)``: the map (B, C, h, w) and the attention (B, heads, h*w, h*w)."""
        tokens = _tokens(x)  # (B, N, C)
        attended = self.attention.trace(self.norm(tokens) + self.pe_scale * _positional_tokens(x))
        out = tokens + attended.output  # (B, N, C)
        return out.transpose(1, 2).reshape(x.shape), attended.weights


class SkipCrossAttention(nn.Module):
    """U-Transformer skip MHCA: Q, K from the decoder map Y, V from the skip map S.

    Y (B, C_y, h, w) -> 1x1 Conv-BN-ReLU -> + P -> Q, K; S (B, C_s, 2h, 2w) -> 2x2 stride-2
    Conv-BN-ReLU -> + P -> V. Z = softmax(Q K^T / sqrt(d_head)) V (heads concatenated), then 1x1
    Conv-BN-sigmoid and bilinear x2 upsampling give the gate G in [0, 1]; the output is G * S.
    """

    def __init__(self, y_channels: int, s_channels: int, n_heads: int = 2):
        super().__init__()
        if s_channels % n_heads or s_channels % 4:
            raise ValueError(f"skip channels ({s_channels}) must divide by the heads ({n_heads}) and by 4")
        self.conv_y = nn.Sequential(
            nn.Conv2d(y_channels, s_channels, 1, bias=False), nn.BatchNorm2d(s_channels), nn.ReLU()
        )
        self.conv_s = nn.Sequential(
            nn.Conv2d(s_channels, s_channels, 2, stride=2, bias=False), nn.BatchNorm2d(s_channels), nn.ReLU()
        )
        self.attention = MultiHeadAttention(s_channels, n_heads, output_projection=False)
        self.gate = nn.Sequential(
            nn.Conv2d(s_channels, s_channels, 1, bias=False), nn.BatchNorm2d(s_channels), nn.Sigmoid()
        )

    def forward(self, y: torch.Tensor, s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(G * S, G, A)``: the gated skip map, the gate (B, C_s, 2h, 2w) and the attention (B, heads, n, n)."""
        y = self.conv_y(y)  # (B, C_s, h, w)
        p = _positional_tokens(y)  # (n, C_s)
        yq = _tokens(y) + p  # (B, n, C_s)
        sv = _tokens(self.conv_s(s)) + p  # (B, n, C_s)
        attended = self.attention.trace(yq, yq, sv)
        z = attended.output.transpose(1, 2).reshape(y.shape)  # (B, C_s, h, w)
        G = upsample_to(self.gate(z), s)  # (B, C_s, 2h, 2w)
        return G * s, G, attended.weights


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


class AttentionUNet(UNet):
    """U-Net with additive attention gates on every skip connection (local: same receptive field)."""

    architecture = "attention_unet"

    def __init__(self, in_channels: int = 1, num_classes: int = 2, depth: int = 2, base_channels: int = 16):
        super().__init__(in_channels, num_classes, depth, base_channels)
        self.gates = nn.ModuleList(AdditiveGate(self.widths[k + 1], self.widths[k]) for k in range(depth))

    def skip(self, level: int, y: torch.Tensor, s: torch.Tensor, trace: UNetTrace) -> torch.Tensor:
        y_up = upsample_to(y, s)
        gated, alpha = self.gates[level](y_up, s)
        trace.skip_gates[level] = alpha
        return torch.cat([gated, y_up], dim=1)


class UTransformer(UNet):
    """U-Transformer (Petit et al. 2021): MHSA on the bottleneck, MHCA gates on the coarse skips.

    ``cross_attention=False`` is the ablation "MHSA only": plain skips, so the bottleneck's self-attention is the
    only path with global reach (and the only place the model can read distant evidence)."""

    architecture = "utransformer"

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 2,
        depth: int = 2,
        base_channels: int = 16,
        n_heads: int = 4,
        pe_scale: float = 1.0,
        cross_attention: bool = True,
    ):
        super().__init__(in_channels, num_classes, depth, base_channels)
        if n_heads not in (1, 2, 4, 8):
            raise ValueError(f"heads must be 1, 2, 4 or 8, got {n_heads}")
        self.config.update(n_heads=n_heads, pe_scale=pe_scale, cross_attention=cross_attention)
        self.mhsa = BottleneckSelfAttention(self.widths[-1], n_heads, pe_scale)
        levels = range(1, depth) if cross_attention else ()
        self.mhca = nn.ModuleDict(
            {str(k): SkipCrossAttention(self.widths[k + 1], self.widths[k], min(n_heads, 2)) for k in levels}
        )

    def check_input(self, x: torch.Tensor) -> None:
        super().check_input(x)
        tokens = (x.shape[2] >> self.depth) * (x.shape[3] >> self.depth)
        if tokens > MAX_ATTENTION_TOKENS:
            raise ValueError(
                f"a {x.shape[2]}x{x.shape[3]} image at depth {self.depth} gives {tokens} bottleneck tokens; "
                f"attention allows at most {MAX_ATTENTION_TOKENS} (use a smaller image or a deeper network)"
            )

    def bottleneck(self, x: torch.Tensor, trace: UNetTrace) -> torch.Tensor:
        out, A = self.mhsa(x)
        trace.bottleneck_attention = A
        trace.bottleneck_shape = (x.shape[2], x.shape[3])
        return out

    def skip(self, level: int, y: torch.Tensor, s: torch.Tensor, trace: UNetTrace) -> torch.Tensor:
        if str(level) not in self.mhca:
            return super().skip(level, y, s, trace)
        gated, G, A = self.mhca[str(level)](y, s)
        trace.skip_gates[level] = G
        trace.skip_attention[level] = A
        return torch.cat([gated, upsample_to(y, s)], dim=1)


MODELS: dict[str, type[UNet]] = {"unet": UNet, "attention_unet": AttentionUNet, "utransformer": UTransformer}


def build_model(architecture: str, **config) -> UNet:
    if architecture not in MODELS:
        raise ValueError(f"architecture must be one of {ARCHITECTURES}, got {architecture!r}")
    return MODELS[architecture](**config)
