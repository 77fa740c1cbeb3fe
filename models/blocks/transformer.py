"""The transformer encoder of the lecture: LayerNorm, the position-wise FFN, the encoder block (post-norm as
on the slides, pre-norm as an option), a stack of N blocks, and a tiny token transformer built on it.

``trace(...)`` returns what the encoder computed, like ``output_hidden_states`` / ``output_attentions``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from models.blocks.attention import AttentionTrace, MultiHeadAttention, check_heads
from models.blocks.positional import positional_module

MAX_LAYERS = 24


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
    """Multi-head self-attention and FFN, each with a residual connection and LayerNorm.

    Post-norm as on the slides: x = LN(x + MHA(x)); x = LN(x + FFN(x)). Pre-norm (``norm_first``):
    x = x + MHA(LN(x)); x = x + FFN(LN(x)).
    """

    def __init__(self, d_model: int, n_heads: int, d_ff: int, norm_first: bool = False):
        super().__init__()
        self.norm_first = norm_first
        self.attention = MultiHeadAttention(d_model, n_heads)
        self.norm1 = LayerNorm(d_model)
        self.ffn = FeedForward(d_model, d_ff)
        self.norm2 = LayerNorm(d_model)

    def trace(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> tuple[torch.Tensor, AttentionTrace]:
        """The block's output (B, T, d) and its attention's trace (weights, heads' outputs, W_o's output)."""
        if self.norm_first:
            attended = self.attention.trace(self.norm1(x), mask=mask)
            x = x + attended.output
            return x + self.ffn(self.norm2(x)), attended
        attended = self.attention.trace(x, mask=mask)
        x = self.norm1(x + attended.output)
        return self.norm2(x + self.ffn(x)), attended

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.trace(x, mask)[0]


@dataclass
class EncoderTrace:
    """What the encoder computed. ``hidden_states[0]`` is its input, ``hidden_states[n]`` block n's output (the
    last after the final norm, which is ``output``); ``layers[n]`` is block n+1's attention trace, and
    ``attentions[n]`` its A, ``(B, heads, T, T)``."""

    output: torch.Tensor  # (B, T, d)
    hidden_states: tuple[torch.Tensor, ...]
    layers: tuple[AttentionTrace, ...]

    @property
    def attentions(self) -> tuple[torch.Tensor, ...]:
        return tuple(layer.weights for layer in self.layers)


class TransformerEncoder(nn.Module):
    """A stack of N encoder blocks (a final LayerNorm in the pre-norm variant)."""

    def __init__(self, n_layers: int, d_model: int, n_heads: int, d_ff: int, norm_first: bool = False):
        super().__init__()
        if isinstance(n_layers, bool) or not isinstance(n_layers, int) or not 1 <= n_layers <= MAX_LAYERS:
            raise ValueError(f"number of layers must be between 1 and {MAX_LAYERS}, got {n_layers!r}")
        check_heads(d_model, n_heads)
        self.blocks = nn.ModuleList(EncoderBlock(d_model, n_heads, d_ff, norm_first) for _ in range(n_layers))
        self.final_norm = LayerNorm(d_model) if norm_first else nn.Identity()

    def trace(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> EncoderTrace:
        hidden_states, layers = [x], []
        for block in self.blocks:
            x, attended = block.trace(x, mask)
            hidden_states.append(x)
            layers.append(attended)
        x = self.final_norm(x)
        hidden_states[-1] = x
        return EncoderTrace(output=x, hidden_states=tuple(hidden_states), layers=tuple(layers))

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.trace(x, mask).output


@dataclass
class TokenTransformerTrace:
    """The token transformer's ``output`` logits (B, T, classes) and its encoder's trace."""

    output: torch.Tensor
    encoder: EncoderTrace


class TokenTransformer(nn.Module):
    """Token embedding e_t + positional p_t -> N encoder blocks -> a linear head per token."""

    def __init__(
        self,
        vocab_size: int,
        n_classes: int,
        max_len: int,
        d_model: int = 32,
        n_heads: int = 2,
        n_layers: int = 2,
        d_ff: int = 64,
        positional: str = "sinusoidal",
        norm_first: bool = False,
    ):
        super().__init__()
        check_heads(d_model, n_heads)
        self.positional_kind = positional
        self.embed = nn.Embedding(vocab_size, d_model)
        self.positional = positional_module(positional, max_len, d_model)
        self.encoder = TransformerEncoder(n_layers, d_model, n_heads, d_ff, norm_first)
        self.head = nn.Linear(d_model, n_classes)

    def trace(self, tokens: torch.Tensor) -> TokenTransformerTrace:
        return self.trace_embeddings(self.embed(tokens))

    def trace_embeddings(self, embeddings: torch.Tensor) -> TokenTransformerTrace:
        """The model from the token embeddings e_t (B, T, d) on: + p_t, encoder, head."""
        encoded = self.encoder.trace(self.positional(embeddings))
        return TokenTransformerTrace(output=self.head(encoded.output), encoder=encoded)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.trace(tokens).output  # (B, T, classes)

    def positional_table(self, length: int) -> torch.Tensor | None:
        """The (length, d_model) encodings the model adds, or None without positional encoding."""
        if self.positional_kind == "none":
            return None
        return self.positional.encoding(length).detach()
