"""TransUNet (Chen et al. 2021, "TransUNet: Transformers Make Strong Encoders for Medical Image Segmentation"), small.

Fig. 1 of the paper: a CNN encoder brings the image down to 1/2^L (the paper's ResNet-50: 1/16, L = 4); each pixel
of that map is a token (a 1x1 "patch", the hybrid embedding of Sec. 3.2), linearly embedded, with a learned
position embedding, eq. (1): z_0 = [x_p^1 E; ...; x_p^N E] + E_pos. A ViT encoder of pre-norm blocks follows,
eq. (2)-(3): z'_l = MSA(LN(z_{l-1})) + z_{l-1}, z_l = MLP(LN(z'_l)) + z'_l, then a final LayerNorm. The cascaded
upsampler (CUP) reshapes the tokens back to the h x w map, a 3x3 conv, then L blocks of (bilinear x2 upsampling,
concatenation with the CNN feature of that resolution, two 3x3 Conv-BN-ReLU); the first ``n_skip`` blocks get a
skip (the paper: 3, at 1/8, 1/4 and 1/2), the last one, to full resolution, never does. A 3x3 conv gives the
classes.

The paper's CNN is a ResNet-50 and its ViT has 12 layers of width 768; here the CNN is the package's U-Net level
(two 3x3 Conv-BN-ReLU) after a stride-2 root, and the ViT is the package's pre-norm encoder, a few layers wide.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from models.blocks.positional import LearnedPositionalEmbedding
from models.blocks.transformer import EncoderTrace, TransformerEncoder
from models.blocks.unet import DoubleConv
from models.labs.segmentation.hybrids.common import (
    ConvBNReLU,
    ViTBottleneckTrace,
    check_common,
    check_encoder,
    check_images,
    check_int,
    check_tokens,
    to_map,
    to_tokens,
)

CNN_LEVELS = (2, 3, 4)  # the CNN brings the image to 1/4, 1/8 or 1/16 (the paper's)
MAX_SKIPS = 3


@dataclass(frozen=True)
class TransUNetConfig:
    """``cnn_levels`` L: the ViT runs on the 1/2^L map; ``n_skip``: how many CUP blocks get a CNN skip (0 to 3,
    at most L - 1: there are CNN features at 1/2 .. 1/2^(L-1)); ``base_channels``: the CNN's width at 1/2, doubled
    at each level."""

    image_size: int = 64
    num_classes: int = 2
    base_channels: int = 8
    cnn_levels: int = 4
    n_skip: int = 3
    d_model: int = 64
    n_heads: int = 4
    n_layers: int = 2
    d_ff: int = 128

    def __post_init__(self):
        check_common(self.image_size, self.num_classes, self.d_model, self.n_heads)
        check_int("CNN base channels", self.base_channels, (4, 8, 16, 32))
        check_int("CNN levels (downsamplings before the ViT)", self.cnn_levels, CNN_LEVELS)
        check_int("number of skips", self.n_skip, range(0, MAX_SKIPS + 1))
        check_encoder(self.n_layers, self.d_ff, self.d_model)
        if self.n_skip > self.cnn_levels - 1:
            raise ValueError(
                f"{self.n_skip} skips need a CNN of at least {self.n_skip + 1} levels (its features at 1/2 .. "
                f"1/{2**self.n_skip}); this one has {self.cnn_levels}"
            )
        check_tokens(self.grid**2, f"a {self.image_size}x{self.image_size} image after {self.cnn_levels} CNN levels")

    @property
    def grid(self) -> int:
        """The side of the token map the ViT runs on."""
        return self.image_size >> self.cnn_levels

    def width(self, level: int) -> int:
        """Channels of the CNN feature (and of the CUP block's output) at 1/2^level; level 0 is full resolution."""
        return self.base_channels * 2 ** max(level - 1, 0)


@dataclass
class TransUNetTrace(ViTBottleneckTrace):
    """What TransUNet computed: ``output`` logits (B, classes, H, W); ``encoder`` the ViT's trace (its
    ``attentions``: one (B, heads, N, N) per layer over the ``bottleneck_shape`` grid, row-major);
    ``cnn_features`` the CNN's maps at 1/2 .. 1/2^L; ``skips`` the levels whose feature the CUP used."""

    output: torch.Tensor
    encoder: EncoderTrace
    cnn_features: tuple[torch.Tensor, ...]
    bottleneck_shape: tuple[int, int]
    skips: tuple[int, ...]
    skip_gates: dict[int, torch.Tensor] = field(default_factory=dict)  # none: the skips are plain concatenations


class TransUNet(nn.Module):
    """CNN (1/2 .. 1/2^L) -> 1x1-patch embedding + E_pos -> ViT -> CUP with ``n_skip`` skips -> 3x3 conv."""

    architecture = "transunet"

    def __init__(self, config: TransUNetConfig = TransUNetConfig()):
        super().__init__()
        self.config = c = config
        # CNN: a stride-2 root to 1/2, then max-pool + two 3x3 convs per level, as the U-Net's encoder
        self.root = nn.Sequential(
            nn.Conv2d(1, c.width(1), 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(c.width(1)),
            nn.ReLU(inplace=True),
            ConvBNReLU(c.width(1), c.width(1)),
        )
        self.cnn = nn.ModuleList(DoubleConv(c.width(level - 1), c.width(level)) for level in range(2, c.cnn_levels + 1))
        # ViT on the 1/2^L map, eq. (1)-(3)
        self.patch_embedding = nn.Linear(c.width(c.cnn_levels), c.d_model)  # E, a 1x1 patch of the CNN map
        self.position = LearnedPositionalEmbedding(c.grid**2, c.d_model, init_std=0.02)  # E_pos
        self.transformer = TransformerEncoder(c.n_layers, c.d_model, c.n_heads, c.d_ff, norm_first=True)
        # CUP
        self.conv_more = ConvBNReLU(c.d_model, c.width(c.cnn_levels))
        self.decoder = nn.ModuleList()
        for level in reversed(range(c.cnn_levels)):  # the block that upsamples to 1/2^level
            skip = c.width(level) if self.uses_skip(level) else 0
            self.decoder.append(DoubleConv(c.width(level + 1) + skip, c.width(level)))
        self.head = nn.Conv2d(c.width(0), c.num_classes, 3, padding=1)

    def uses_skip(self, level: int) -> bool:
        """Whether the CUP block that upsamples to 1/2^level concatenates the CNN feature of that level."""
        c = self.config
        return level >= 1 and c.cnn_levels - level <= c.n_skip

    def trace(self, x: torch.Tensor) -> TransUNetTrace:
        c = self.config
        check_images(x, c.image_size)
        features = [self.root(x)]  # 1/2: (B, width(1), H/2, W/2)
        for block in self.cnn:
            features.append(block(F.max_pool2d(features[-1], 2)))  # 1/2^level
        grid = (c.grid, c.grid)
        tokens = self.position(self.patch_embedding(to_tokens(features[-1])))  # z_0, (B, N, d)
        encoded = self.transformer.trace(tokens)  # z_L after the final LayerNorm, (B, N, d)
        y = self.conv_more(to_map(encoded.output, grid))  # (B, width(L), h, w)
        skips = []
        for level, block in zip(reversed(range(c.cnn_levels)), self.decoder, strict=True):
            y = F.interpolate(y, scale_factor=2, mode="bilinear", align_corners=False)  # (B, C, 2h, 2w)
            if self.uses_skip(level):
                y = torch.cat([y, features[level - 1]], dim=1)
                skips.append(level)
            y = block(y)  # (B, width(level), H / 2^level, W / 2^level)
        return TransUNetTrace(
            output=self.head(y),  # (B, classes, H, W)
            encoder=encoded,
            cnn_features=tuple(features),
            bottleneck_shape=grid,
            skips=tuple(skips),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.trace(x).output
