"""What the positional-encoding lab shows for a choice of d, number of positions and base, as numpy."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from models.blocks.positional import offset_profile, offset_similarity, positional_similarity, sinusoidal_encoding

MAX_SHOWN_OFFSET = 200


@dataclass
class EncodingView:
    """P (T, d), K = P P^T (T, T), K as shown (divided by d/2 when normalised), and K[i, i + k] against k for a
    few start positions i next to its closed form sum_k cos(w_k k) (on the same scale)."""

    P: np.ndarray
    K: np.ndarray
    K_shown: np.ndarray
    profiles: dict[int, np.ndarray]
    closed_form: np.ndarray


def encoding_view(length: int, d_model: int, base: float, normalised: bool) -> EncodingView:
    P = sinusoidal_encoding(length, d_model, base)  # (T, d)
    K = positional_similarity(P)  # (T, T)
    scale = d_model / 2 if normalised else 1.0
    starts = sorted({0, length // 4, length // 2})
    max_offset = min(length - 1 - max(starts), MAX_SHOWN_OFFSET)
    profiles = {i: (offset_profile(K, i, max_offset) / scale).numpy() for i in starts}
    closed_form = (offset_similarity(torch.arange(max_offset + 1), d_model, base) / scale).numpy()
    return EncodingView(P.numpy(), K.numpy(), (K / scale).numpy(), profiles, closed_form)
