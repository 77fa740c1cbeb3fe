"""Positional encodings: the lecture's sinusoidal PE, a learned embedding, and a 2D PE for images."""

from __future__ import annotations

import math

import torch
from torch import nn

MAX_LENGTH = 8192
MAX_D_MODEL = 4096


def _check_length(name: str, value: int, upper: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if not 1 <= value <= upper:
        raise ValueError(f"{name} must be between 1 and {upper}, got {value}")


def _check_d_model(d_model: int, multiple: int) -> None:
    _check_length("d_model", d_model, MAX_D_MODEL)
    if d_model % multiple:
        raise ValueError(f"d_model must be a multiple of {multiple} (sin/cos pairs), got {d_model}")


def _check_base(base: float) -> None:
    if not (isinstance(base, (int, float)) and math.isfinite(base) and base > 0):
        raise ValueError(f"base must be a positive finite number, got {base!r}")


def frequencies(d_model: int, base: float = 10000.0, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """The lecture's w_k = 1 / base^(2k/d) for k = 0 .. d/2 - 1, shape ``(d_model // 2,)``."""
    _check_d_model(d_model, 2)
    _check_base(base)
    k = torch.arange(d_model // 2, dtype=torch.float64)
    return (float(base) ** (-2.0 * k / d_model)).to(dtype)


def sinusoidal_encoding(
    length: int,
    d_model: int,
    base: float = 10000.0,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """The lecture's sinusoidal PE, interleaved: P[t, 2k] = sin(t w_k), P[t, 2k+1] = cos(t w_k).

    Returns ``P`` of shape ``(length, d_model)`` for positions t = 0 .. length - 1. Angles are
    computed in float64 so long sequences keep their precision, then cast to ``dtype``.
    """
    _check_length("length", length, MAX_LENGTH)
    w = frequencies(d_model, base)  # (d/2,)
    angles = torch.arange(length, dtype=torch.float64)[:, None] * w[None, :]  # (T, d/2)
    encoding = torch.stack([angles.sin(), angles.cos()], dim=-1).reshape(length, d_model)  # (T, d)
    return encoding.to(device=device, dtype=dtype)


def positional_similarity(encoding: torch.Tensor) -> torch.Tensor:
    """The lecture's positional similarity K = P P^T, shape ``(T, T)``."""
    return encoding @ encoding.T


def offset_profile(similarity: torch.Tensor, start: int, max_offset: int) -> torch.Tensor:
    """K[i, i + k] for k = 0 .. max_offset (clipped to the matrix), starting at position i = ``start``."""
    length = similarity.shape[0]
    if not 0 <= start < length:
        raise ValueError(f"start position must be in [0, {length - 1}], got {start}")
    offsets = torch.arange(min(max_offset, length - 1 - start) + 1)
    return similarity[start, start + offsets]


def offset_similarity(offsets: torch.Tensor, d_model: int, base: float = 10000.0) -> torch.Tensor:
    """Closed form of the lecture's K for two positions ``offsets`` apart: p_i . p_(i+k) = sum_k cos(w_k k).

    From sin(a) sin(b) + cos(a) cos(b) = cos(a - b): the similarity depends on the offset only.
    """
    w = frequencies(d_model, base)
    return torch.cos(offsets.to(torch.float64)[:, None] * w[None, :]).sum(dim=1)


def sinusoidal_encoding_2d(height: int, width: int, d_model: int, base: float = 10000.0) -> torch.Tensor:
    """2D sinusoidal PE for a feature map, shape ``(d_model, height, width)``.

    The first half of the channels is the 1D encoding of the column x, the second half that of
    the row y (each with d_model / 2 channels), as in the U-Transformer's bottleneck.
    """
    _check_d_model(d_model, 4)
    _check_length("height", height, MAX_LENGTH)
    _check_length("width", width, MAX_LENGTH)
    half = d_model // 2
    along_x = sinusoidal_encoding(width, half, base)  # (W, d/2)
    along_y = sinusoidal_encoding(height, half, base)  # (H, d/2)
    x_channels = along_x.T[:, None, :].expand(half, height, width)
    y_channels = along_y.T[:, :, None].expand(half, height, width)
    return torch.cat([x_channels, y_channels], dim=0)


def sinusoidal_tokens_2d(height: int, width: int, d_model: int) -> torch.Tensor:
    """The 2D encoding as one row per pixel of the map, row-major: ``(height * width, d_model)``."""
    return sinusoidal_encoding_2d(height, width, d_model).flatten(1).T


class SinusoidalPositionalEncoding(nn.Module):
    """Adds the fixed sinusoidal P to a ``(B, T, d_model)`` input (final embedding = e_t + p_t)."""

    def __init__(self, max_len: int, d_model: int, base: float = 10000.0):
        super().__init__()
        self.register_buffer("table", sinusoidal_encoding(max_len, d_model, base), persistent=False)

    def encoding(self, length: int) -> torch.Tensor:
        _check_length("sequence length", length, self.table.shape[0])
        return self.table[:length]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.encoding(x.shape[1])


class LearnedPositionalEmbedding(nn.Module):
    """A learned p_t per position (as in BERT or ViT), added to a ``(B, T, d_model)`` input."""

    def __init__(self, max_len: int, d_model: int, init_std: float = 0.02):
        super().__init__()
        _check_length("max_len", max_len, MAX_LENGTH)
        _check_length("d_model", d_model, MAX_D_MODEL)
        self.table = nn.Parameter(torch.randn(max_len, d_model) * init_std)

    def encoding(self, length: int) -> torch.Tensor:
        _check_length("sequence length", length, self.table.shape[0])
        return self.table[:length]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.encoding(x.shape[1])


POSITIONAL_KINDS = ("sinusoidal", "learned", "none")


def positional_module(kind: str, max_len: int, d_model: int, learned_init_std: float = 0.5) -> nn.Module:
    """The module that adds p_t to the token embeddings: sinusoidal, learned, or none (identity)."""
    if kind == "sinusoidal":
        return SinusoidalPositionalEncoding(max_len, d_model)
    if kind == "learned":
        return LearnedPositionalEmbedding(max_len, d_model, init_std=learned_init_std)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"positional encoding must be one of {POSITIONAL_KINDS}, got {kind!r}")
