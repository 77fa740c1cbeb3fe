"""The one attention of the package, as on the slides: A = softmax(Q K^T / sqrt(d_k)), Y = A V.

:func:`scaled_dot_product_attention` takes an optional boolean mask (True = may attend) and an optional
additive bias (a relative position bias, say); :class:`MultiHeadAttention` runs h heads of it in
parallel, as self-attention (queries, keys and values from one sequence) or cross-attention (keys and
values, or only values, from another), and concatenates the heads through W_o. Head-averaged attention
and attention rollout read a stack of them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

MAX_HEADS = 64


def attention_scores(
    q: torch.Tensor, k: torch.Tensor, mask: torch.Tensor | None = None, bias: torch.Tensor | None = None
) -> torch.Tensor:
    """The lecture's Q K^T / sqrt(d_k), plus ``bias``, with -inf where ``mask`` is False: ``(..., T_q, T_k)``.

    ``q`` is ``(..., T_q, d_k)`` and ``k`` ``(..., T_k, d_k)``; ``mask`` (boolean) and ``bias`` (float)
    broadcast to ``(..., T_q, T_k)``.
    """
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"queries and keys need the same width d_k, got {q.shape[-1]} and {k.shape[-1]}")
    scores = (q / math.sqrt(q.shape[-1])) @ k.transpose(-2, -1)  # (..., T_q, T_k)
    if bias is not None:
        scores = scores + bias
    if mask is not None:
        if mask.dtype != torch.bool:
            raise ValueError(f"mask must be boolean (True = may attend), got {mask.dtype}")
        scores = scores.masked_fill(~mask, float("-inf"))
    return scores


def scaled_dot_product_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None = None,
    bias: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Y = A V with A = softmax(Q K^T / sqrt(d_k) + bias) over the keys; returns ``(Y, A)``.

    ``v`` is ``(..., T_k, d_v)``; see :func:`attention_scores` for the rest.
    """
    if k.shape[-2] != v.shape[-2]:
        raise ValueError(f"keys and values need the same number of tokens, got {k.shape[-2]} and {v.shape[-2]}")
    weights = attention_scores(q, k, mask, bias).softmax(dim=-1)  # A, (..., T_q, T_k)
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


@dataclass
class AttentionTrace:
    """One multi-head attention: ``output`` (B, T_q, d_model), ``weights`` A (B, heads, T_q, T_k) and the
    heads' outputs A V before they are concatenated and mixed by W_o, ``head_outputs`` (B, heads, T_q, d_head)."""

    output: torch.Tensor
    weights: torch.Tensor
    head_outputs: torch.Tensor


class MultiHeadAttention(nn.Module):
    """h heads of attention in parallel, each with A = softmax(Q K^T / sqrt(d_head)); the heads' outputs are
    concatenated and mixed by a linear layer W_o (``output_projection=False`` leaves them concatenated).

    Self-attention: ``trace(x)``. Cross-attention: ``trace(x, context)`` takes keys and values from
    ``context``; ``trace(x, x, values)`` takes only the values elsewhere (the U-Transformer's skips).
    """

    def __init__(self, d_model: int, n_heads: int, output_projection: bool = True):
        super().__init__()
        check_heads(d_model, n_heads)
        self.d_model, self.n_heads, self.d_head = d_model, n_heads, d_model // n_heads
        self.q_proj = nn.Linear(d_model, d_model)  # W_q
        self.k_proj = nn.Linear(d_model, d_model)  # W_k
        self.v_proj = nn.Linear(d_model, d_model)  # W_v
        self.out_proj = nn.Linear(d_model, d_model) if output_projection else nn.Identity()  # W_o

    def load_torch_weights(self, reference: nn.MultiheadAttention) -> MultiHeadAttention:
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
        if x.dim() != 3 or x.shape[-1] != self.d_model:
            raise ValueError(f"expected tokens (batch, tokens, {self.d_model}), got {tuple(x.shape)}")
        batch, length, _ = x.shape
        return x.view(batch, length, self.n_heads, self.d_head).transpose(1, 2)  # (B, h, T, d_head)

    def trace(
        self,
        query: torch.Tensor,
        key: torch.Tensor | None = None,
        value: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
        bias: torch.Tensor | None = None,
    ) -> AttentionTrace:
        """Queries from ``query`` (B, T_q, d), keys from ``key`` (default: ``query``), values from ``value``
        (default: ``key``). ``mask`` (T_q, T_k) or (B, T_q, T_k) is shared by the heads; ``bias`` broadcasts
        to (B, heads, T_q, T_k)."""
        key = query if key is None else key
        value = key if value is None else value
        q, k, v = self._split(self.q_proj(query)), self._split(self.k_proj(key)), self._split(self.v_proj(value))
        if mask is not None and mask.dim() == 3:
            mask = mask[:, None]  # (B, 1, T_q, T_k)
        heads, weights = scaled_dot_product_attention(q, k, v, mask, bias)  # (B, h, T_q, d_head), (B, h, T_q, T_k)
        concatenated = heads.transpose(1, 2).reshape(*query.shape[:2], self.d_model)  # (B, T_q, d_model)
        return AttentionTrace(output=self.out_proj(concatenated), weights=weights, head_outputs=heads)

    def forward(self, query, key=None, value=None, mask=None, bias=None) -> torch.Tensor:
        return self.trace(query, key, value, mask, bias).output


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
