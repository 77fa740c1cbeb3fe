"""A small Vision Transformer: patches -> e_i = x_i W^e, a learned CLS token, a learned positional embedding,
the pre-norm transformer encoder, and the class read from the CLS token's output."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from models.blocks.attention import attention_rollout, check_heads
from models.blocks.patches import PatchEmbedding, patchify
from models.blocks.positional import LearnedPositionalEmbedding
from models.blocks.transformer import EncoderTrace, TransformerEncoder


@dataclass(frozen=True)
class ViTConfig:
    image_size: int = 8
    patch_size: int = 2
    d_model: int = 32
    n_heads: int = 4
    n_layers: int = 2
    d_ff: int = 64
    n_classes: int = 10

    def __post_init__(self):
        if not 2 <= self.image_size <= 64:
            raise ValueError(f"image size must be between 2 and 64 pixels, got {self.image_size}")
        if self.patch_size < 1 or self.image_size % self.patch_size:
            raise ValueError(f"patch size must divide the image size {self.image_size}, got {self.patch_size}")
        check_heads(self.d_model, self.n_heads)

    @property
    def grid(self) -> int:
        return self.image_size // self.patch_size


@dataclass
class ViTTrace:
    """``output`` logits (B, classes), the encoder's trace over [CLS, patch_1 .. patch_N], and the patches."""

    output: torch.Tensor
    encoder: EncoderTrace
    patches: torch.Tensor  # (B, N, p*p)

    def cls_attention(self) -> torch.Tensor:
        """What CLS attends to among the patches, per layer and head: ``(layers, B, heads, N)``."""
        return torch.stack([a[:, :, 0, 1:] for a in self.encoder.attentions])

    def cls_rollout(self) -> torch.Tensor:
        """The CLS row of the attention rollout over the patches, ``(B, N)`` (renormalised to sum 1)."""
        row = attention_rollout(self.encoder.attentions)[:, 0, 1:]
        return row / row.sum(-1, keepdim=True)


class ViT(nn.Module):
    """Patches -> e_i = x_i W^e -> [CLS; e_1..e_N] + p -> encoder -> linear head on CLS."""

    def __init__(self, config: ViTConfig = ViTConfig()):
        super().__init__()
        self.config = config
        self.patch_embed = PatchEmbedding(config.patch_size, config.d_model)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, config.d_model))
        self.positional = LearnedPositionalEmbedding(config.grid**2 + 1, config.d_model)
        self.encoder = TransformerEncoder(config.n_layers, config.d_model, config.n_heads, config.d_ff, norm_first=True)
        self.head = nn.Linear(config.d_model, config.n_classes)

    def trace(self, images: torch.Tensor) -> ViTTrace:
        size = self.config.image_size
        if images.dim() != 3 or images.shape[1:] != (size, size):
            raise ValueError(f"this ViT takes {size}x{size} grey images, got shape {tuple(images.shape)}")
        tokens = self.patch_embed(images)  # (B, N, d)
        cls = self.cls_token.expand(len(images), -1, -1)  # (B, 1, d)
        encoded = self.encoder.trace(self.positional(torch.cat([cls, tokens], dim=1)))  # (B, N+1, d)
        patches = patchify(images, self.config.patch_size)  # (B, N, p*p)
        return ViTTrace(output=self.head(encoded.output[:, 0]), encoder=encoded, patches=patches)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.trace(images).output  # (B, classes)
