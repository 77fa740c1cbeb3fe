"""Self-attention step by step on a few typed words, as on the slide: X, W_q, W_k, W_v, Q, K, V, the
scores, A and Y, every intermediate kept (one head, d = d_k)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from models.blocks.attention import attention_scores, scaled_dot_product_attention
from models.blocks.positional import sinusoidal_encoding

MAX_WORDS = 12
MAX_WORD_LENGTH = 20


def parse_words(text: str) -> list[str]:
    """A few words separated by spaces, checked: 2 to MAX_WORDS words of at most MAX_WORD_LENGTH letters."""
    words = text.split()
    if not 2 <= len(words) <= MAX_WORDS:
        raise ValueError(f"type between 2 and {MAX_WORDS} tokens separated by spaces, got {len(words)}")
    too_long = [w for w in words if len(w) > MAX_WORD_LENGTH]
    if too_long:
        raise ValueError(f"tokens must be at most {MAX_WORD_LENGTH} characters, got {too_long}")
    return words


def word_embeddings(words: list[str], d_model: int, positional: bool = False) -> torch.Tensor:
    """A fixed toy embedding e(word) (the same word always gets the same row), optionally + sinusoidal p_t."""
    if not 2 <= d_model <= 16 or d_model % 2:
        raise ValueError(f"embedding width must be an even number between 2 and 16, got {d_model}")
    rows = []
    for word in words:
        seed = int.from_bytes(word.lower().encode()[:8].ljust(8, b"\0"), "little") % (2**31)
        rows.append(torch.randn(d_model, generator=torch.Generator().manual_seed(seed + len(word))))
    X = torch.stack(rows).round(decimals=2)  # (N, d)
    if positional:
        X = X + sinusoidal_encoding(len(words), d_model)
    return X


def random_projections(d_model: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """W_q, W_k, W_v of shape (d, d), drawn from ``seed`` and rounded for display."""
    generator = torch.Generator().manual_seed(seed)
    return tuple((torch.randn(d_model, d_model, generator=generator) / d_model**0.5).round(decimals=2) for _ in "qkv")


@dataclass
class SelfAttentionSteps:
    """Every intermediate of one single-head self-attention, as on the slide (d = d_k)."""

    X: torch.Tensor  # (N, d)
    W_q: torch.Tensor  # (d, d_k)
    W_k: torch.Tensor  # (d, d_k)
    W_v: torch.Tensor  # (d, d_v)
    Q: torch.Tensor  # (N, d_k)
    K: torch.Tensor  # (N, d_k)
    V: torch.Tensor  # (N, d_v)
    scores: torch.Tensor  # Q K^T / sqrt(d_k), (N, N)
    A: torch.Tensor  # softmax over each row, (N, N)
    Y: torch.Tensor  # A V, (N, d_v)


def self_attention_steps(
    X: torch.Tensor, W_q: torch.Tensor, W_k: torch.Tensor, W_v: torch.Tensor
) -> SelfAttentionSteps:
    """Q = X W_q, K = X W_k, V = X W_v, A = softmax(Q K^T / sqrt(d)), Y = A V, keeping every step."""
    if X.dim() != 2:
        raise ValueError(f"X must be a matrix (tokens, d), got shape {tuple(X.shape)}")
    for name, W in (("W_q", W_q), ("W_k", W_k), ("W_v", W_v)):
        if W.dim() != 2 or W.shape[0] != X.shape[1]:
            raise ValueError(f"{name} must have {X.shape[1]} rows (the width of X), got shape {tuple(W.shape)}")
    Q, K, V = X @ W_q, X @ W_k, X @ W_v
    Y, A = scaled_dot_product_attention(Q, K, V)
    return SelfAttentionSteps(X, W_q, W_k, W_v, Q, K, V, attention_scores(Q, K), A, Y)
