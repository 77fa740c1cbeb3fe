"""Self-attention as on the slides: Q = XW_q, K = XW_k, V = XW_v, A = softmax(QK^T / sqrt(d)), Y = AV.

Multi-head attention, the lecture's LayerNorm, the position-wise FFN, the transformer encoder block
(post-norm as on the slides, pre-norm as an option), a stack of N blocks that returns its attentions
and hidden states in a typed output, head-averaged attention and attention rollout.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

MAX_HEADS = 64


def scaled_dot_product_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Y = A V with A = softmax(Q K^T / sqrt(d_k)) over the keys; returns ``(Y, A)``.

    ``q`` is ``(..., T_q, d_k)``, ``k`` ``(..., T_k, d_k)``, ``v`` ``(..., T_k, d_v)``; ``mask`` is a
    boolean tensor broadcastable to ``(..., T_q, T_k)`` where True means "may attend".
    """
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"queries and keys need the same width d_k, got {q.shape[-1]} and {k.shape[-1]}")
    if k.shape[-2] != v.shape[-2]:
        raise ValueError(f"keys and values need the same number of tokens, got {k.shape[-2]} and {v.shape[-2]}")
    scores = (q / math.sqrt(q.shape[-1])) @ k.transpose(-2, -1)  # Q K^T / sqrt(d_k), (..., T_q, T_k)
    if mask is not None:
        if mask.dtype != torch.bool:
            raise ValueError(f"mask must be boolean (True = may attend), got {mask.dtype}")
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = scores.softmax(dim=-1)  # A, (..., T_q, T_k)
    return weights @ v, weights


def check_heads(d_model: int, n_heads: int) -> None:
    """Clear messages for a model width and head count that do not fit together."""
    for name, value in (("d_model", d_model), ("number of heads", n_heads)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if n_heads > MAX_HEADS:
        raise ValueError(f"number of heads must be at most {MAX_HEADS}, got {n_heads}")
    if d_model % n_heads:
        raise ValueError(f"the number of heads ({n_heads}) must divide d_model ({d_model})")


class MultiHeadSelfAttention(nn.Module):
    """h heads of self-attention in parallel, concatenated and mixed by a linear layer (W_o)."""

    def __init__(self, d_model: int, n_heads: int):
        super().__init__()
        check_heads(d_model, n_heads)
        self.d_model, self.n_heads, self.d_head = d_model, n_heads, d_model // n_heads
        self.q_proj = nn.Linear(d_model, d_model)
        self.k_proj = nn.Linear(d_model, d_model)
        self.v_proj = nn.Linear(d_model, d_model)
        self.out_proj = nn.Linear(d_model, d_model)

    def load_torch_weights(self, reference: nn.MultiheadAttention) -> MultiHeadSelfAttention:
        """Copy the weights of a ``torch.nn.MultiheadAttention`` (packed in_proj) into q/k/v/out_proj."""
        w_q, w_k, w_v = reference.in_proj_weight.detach().chunk(3)
        b_q, b_k, b_v = reference.in_proj_bias.detach().chunk(3)
        with torch.no_grad():
            for proj, w, b in ((self.q_proj, w_q, b_q), (self.k_proj, w_k, b_k), (self.v_proj, w_v, b_v)):
                proj.weight.copy_(w)
                proj.bias.copy_(b)
            self.out_proj.weight.copy_(reference.out_proj.weight)
            self.out_proj.bias.copy_(reference.out_proj.bias)
        return self

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, _ = x.shape
        return x.view(batch, length, self.n_heads, self.d_head).transpose(1, 2)  # (B, h, T, d_head)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``x`` (B, T, d_model) -> ``(Y, A)`` with Y (B, T, d_model) and A (B, h, T, T)."""
        if x.dim() != 3 or x.shape[-1] != self.d_model:
            raise ValueError(f"expected input (batch, tokens, {self.d_model}), got {tuple(x.shape)}")
        q, k, v = self._split(self.q_proj(x)), self._split(self.k_proj(x)), self._split(self.v_proj(x))
        if mask is not None and mask.dim() == 3:
            mask = mask[:, None]  # (B, 1, T, T), shared by the heads
        y, weights = scaled_dot_product_attention(q, k, v, mask)  # (B, h, T, d_head), (B, h, T, T)
        y = y.transpose(1, 2).reshape(x.shape)  # concatenate the heads, (B, T, d_model)
        return self.out_proj(y), weights


class LayerNorm(nn.Module):
    """The lecture's LN_{gamma,beta}(x_n) = gamma (x_n - mu_n) / sqrt(sigma_n^2 + eps) + beta over the features."""

    def __init__(self, d_model: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d_model))  # gamma
        self.bias = nn.Parameter(torch.zeros(d_model))  # beta

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mu = x.mean(dim=-1, keepdim=True)
        sigma2 = x.var(dim=-1, unbiased=False, keepdim=True)
        return self.weight * (x - mu) / torch.sqrt(sigma2 + self.eps) + self.bias


class FeedForward(nn.Module):
    """Position-wise FFN(x) = max(0, x W_1 + b_1) W_2 + b_2, the same for every token."""

    def __init__(self, d_model: int, d_ff: int):
        super().__init__()
        self.linear1 = nn.Linear(d_model, d_ff)
        self.linear2 = nn.Linear(d_ff, d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear2(F.relu(self.linear1(x)))


class EncoderBlock(nn.Module):
    """Multi-head attention and FFN, each with a residual connection and LayerNorm.

    Post-norm as on the slides: x = LN(x + MHA(x)); x = LN(x + FFN(x)). Pre-norm (``norm_first``):
    x = x + MHA(LN(x)); x = x + FFN(LN(x)).
    """

    def __init__(self, d_model: int, n_heads: int, d_ff: int, norm_first: bool = False):
        super().__init__()
        self.norm_first = norm_first
        self.attention = MultiHeadSelfAttention(d_model, n_heads)
        self.norm1 = LayerNorm(d_model)
        self.ffn = FeedForward(d_model, d_ff)
        self.norm2 = LayerNorm(d_model)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        if self.norm_first:
            y, weights = self.attention(self.norm1(x), mask)
            x = x + y
            return x + self.ffn(self.norm2(x)), weights
        y, weights = self.attention(x, mask)
        x = self.norm1(x + y)
        return self.norm2(x + self.ffn(x)), weights


@dataclass
class EncoderOutput:
    """What the encoder computed: like ``output_hidden_states`` / ``output_attentions``.

    ``hidden_states[0]`` is the input (embeddings + PE), ``hidden_states[n]`` the output of block n;
    ``attentions[n]`` is block n+1's A, ``(B, heads, T, T)``.
    """

    last_hidden_state: torch.Tensor  # (B, T, d)
    hidden_states: tuple[torch.Tensor, ...]
    attentions: tuple[torch.Tensor, ...]


class TransformerEncoder(nn.Module):
    """A stack of N encoder blocks (a final LayerNorm in the pre-norm variant)."""

    def __init__(self, n_layers: int, d_model: int, n_heads: int, d_ff: int, norm_first: bool = False):
        super().__init__()
        if isinstance(n_layers, bool) or not isinstance(n_layers, int) or not 1 <= n_layers <= 24:
            raise ValueError(f"number of layers must be between 1 and 24, got {n_layers!r}")
        check_heads(d_model, n_heads)
        self.blocks = nn.ModuleList(EncoderBlock(d_model, n_heads, d_ff, norm_first) for _ in range(n_layers))
        self.final_norm = LayerNorm(d_model) if norm_first else nn.Identity()

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> EncoderOutput:
        hidden_states, attentions = [x], []
        for block in self.blocks:
            x, weights = block(x, mask)
            hidden_states.append(x)
            attentions.append(weights)
        x = self.final_norm(x)
        hidden_states[-1] = x
        return EncoderOutput(last_hidden_state=x, hidden_states=tuple(hidden_states), attentions=tuple(attentions))


def head_mean(attentions: torch.Tensor) -> torch.Tensor:
    """Attention averaged over the heads: ``(..., heads, T, T)`` -> ``(..., T, T)``."""
    return attentions.mean(dim=-3)


def attention_rollout(attentions: tuple[torch.Tensor, ...] | list[torch.Tensor], residual: float = 0.5) -> torch.Tensor:
    """Attention rollout (Abnar & Zuidema 2020): R = Ā_N ... Ā_1 with Ā = (1 - r) mean_heads(A) + r I.

    The identity accounts for the residual connection; each Ā is row-normalised, so every row of
    R sums to 1 and R[i, j] says how much of input token j flows into output token i.
    ``attentions`` holds one ``(B, heads, T, T)`` tensor per layer; returns ``(B, T, T)``.
    """
    if not attentions:
        raise ValueError("attention rollout needs at least one layer of attention weights")
    if not 0.0 <= residual <= 1.0:
        raise ValueError(f"residual weight must be in [0, 1], got {residual}")
    length = attentions[0].shape[-1]
    eye = torch.eye(length, device=attentions[0].device, dtype=attentions[0].dtype)
    rollout = None
    for layer in attentions:
        a_bar = (1 - residual) * head_mean(layer) + residual * eye  # (B, T, T)
        a_bar = a_bar / a_bar.sum(dim=-1, keepdim=True)
        rollout = a_bar if rollout is None else a_bar @ rollout
    return rollout


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
    scores = Q @ K.T / math.sqrt(Q.shape[-1])
    A = scores.softmax(dim=-1)
    return SelfAttentionSteps(X, W_q, W_k, W_v, Q, K, V, scores, A, A @ V)
