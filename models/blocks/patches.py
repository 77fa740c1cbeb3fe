"""Images as sets of tokens: non-overlapping p x p patches, each linearly embedded (e_i = x_i W^e)."""

from __future__ import annotations

import torch
from torch import nn


def patchify(images: torch.Tensor, patch_size: int) -> torch.Tensor:
    """Cut ``(B, H, W)`` images into non-overlapping p x p patches, row by row: ``(B, H/p * W/p, p*p)``."""
    if images.dim() != 3:
        raise ValueError(f"expected a batch of grey images (batch, height, width), got shape {tuple(images.shape)}")
    batch, height, width = images.shape
    if patch_size < 1 or height % patch_size or width % patch_size:
        raise ValueError(f"patch size {patch_size} must divide the image size {height}x{width}")
    p = patch_size
    patches = images.reshape(batch, height // p, p, width // p, p).permute(0, 1, 3, 2, 4)  # (B, h, w, p, p)
    return patches.reshape(batch, (height // p) * (width // p), p * p)


class PatchEmbedding(nn.Module):
    """Patches -> tokens: e_i = x_i W^e + b for each flattened p x p patch x_i; ``(B, H, W)`` -> ``(B, N, d)``."""

    def __init__(self, patch_size: int, d_model: int):
        super().__init__()
        self.patch_size = patch_size
        self.proj = nn.Linear(patch_size**2, d_model)  # W^e

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.proj(patchify(images, self.patch_size))
