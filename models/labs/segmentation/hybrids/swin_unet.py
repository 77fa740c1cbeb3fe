"""Swin-UNet (Cao et al. 2021, "Swin-Unet: Unet-like Pure Transformer for Medical Image Segmentation") and its GLAM
variant (Themyr et al. 2023, GLAM-Swin-UNet), small, on the high-resolution lab's blocks.

Fig. 1 of Swin-UNet: patch partition (p x p patches, linear embedding to C, LayerNorm); an encoder of Swin stages
(two blocks, W-MSA then SW-MSA, Swin's eq. (3)) each followed by patch merging (H/2, W/2, 2C); a bottleneck
stage; a decoder whose patch expanding layer undoes a merging (Linear C -> 2C, each token's channels spread over a
2x2 neighbourhood: (2H, 2W, C/2), LayerNorm), concatenates the encoder stage of that resolution (the skip), maps
2C back to C with a linear layer and runs a Swin stage; a final patch expanding x p back to H x W and a linear
projection to the classes. Heads double with the channels, as in Swin. A stage whose map is no larger than the
window uses one window over the whole map (and no shift), as Swin does.

GLAM (``n_global`` = G >= 1): every stage is a stack of GLAM blocks instead, G global tokens per window and
G-MSA among all windows' global tokens, so each token reaches the whole image from a stage's second block on.
Each stage has its own global tokens, as in GLAM's code; a stage's last G-MSA therefore feeds nothing (it trains
no further: no gradient reaches it).
The window attention is :mod:`models.blocks.windows`'s and GLAM's is :mod:`models.blocks.global_tokens`'s; this
file only arranges them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from models.blocks.global_tokens import Glam, GlamBlockTrace, GlamTrace, check_global_tokens
from models.blocks.patches import PatchEmbedding
from models.blocks.transformer import LayerNorm
from models.blocks.windows import PatchMerging, SwinStage, SwinStageTrace, WindowAttentionTrace, check_window
from models.labs.segmentation.hybrids.common import check_common, check_images, check_int, window_attention_on_grid

PATCH_SIZES = (2, 4, 8)
MAX_MERGES = 3
MAX_WIDTH = 512


@dataclass(frozen=True)
class SwinUNetConfig:
    """``patch_size`` p (the paper: 4); ``n_merges``: patch mergings, so the bottleneck runs on the
    (H / p 2^n)-side map (the paper: 3); ``window_size`` M (the paper: 7); ``d_model`` C and ``n_heads`` at the first
    stage, both doubled per merging; ``blocks`` per stage (the paper: 2); ``n_global`` G: 0 for Swin-UNet, G >= 1
    global tokens per window for GLAM-Swin-UNet."""

    image_size: int = 64
    num_classes: int = 2
    patch_size: int = 4
    n_merges: int = 2
    window_size: int = 4
    d_model: int = 16
    n_heads: int = 2
    blocks: int = 2
    n_global: int = 0

    def __post_init__(self):
        check_common(self.image_size, self.num_classes, self.d_model, self.n_heads)
        check_int("patch size", self.patch_size, PATCH_SIZES)
        check_int("number of patch mergings", self.n_merges, range(1, MAX_MERGES + 1))
        check_int("window size", self.window_size, range(2, 17))
        check_int("blocks per stage", self.blocks, range(1, 7))
        check_int("global tokens per window (G, 0 = Swin-UNet)", self.n_global, range(0, 65))
        if self.n_global:
            check_global_tokens(self.n_global)
        if self.image_size % self.patch_size:
            raise ValueError(f"patch size {self.patch_size} must divide the image size {self.image_size}")
        first = self.image_size // self.patch_size
        if first % 2**self.n_merges:
            raise ValueError(
                f"{self.n_merges} patch mergings halve the {first}x{first} token map {self.n_merges} times: "
                f"its side must be a multiple of {2**self.n_merges}"
            )
        if self.d_model * 2**self.n_merges > MAX_WIDTH:
            raise ValueError(
                f"the bottleneck would be {self.d_model * 2**self.n_merges} channels wide (C 2^n); at most {MAX_WIDTH}"
            )
        for level in range(self.n_merges + 1):
            side, window = self.side(level), self.window(level)
            try:
                check_window(side, side, window)
            except ValueError as error:
                raise ValueError(
                    f"stage {level} of this Swin-UNet runs on a {side}x{side} token map: {error}"
                ) from None

    def side(self, level: int) -> int:
        """The token map's side at stage ``level`` (0 = after the patch embedding)."""
        return self.image_size // self.patch_size >> level

    def window(self, level: int) -> int:
        """The window at stage ``level``: M, or the whole map when the map is no larger (Swin's rule)."""
        return min(self.window_size, self.side(level))

    def width(self, level: int) -> int:
        return self.d_model * 2**level

    def heads(self, level: int) -> int:
        return self.n_heads * 2**level


StageTrace = SwinStageTrace | GlamTrace


@dataclass
class SwinUNetTrace:
    """What Swin-UNet computed: ``output`` logits (B, classes, H, W); ``stages`` every stage's trace in the order
    run (encoder 0 .. n-1, the bottleneck, decoder n-1 .. 0), named in ``stage_names``, with its token map's
    (h, w) in ``grids`` and window in ``windows``; ``bottleneck_attention`` the bottleneck stage's last block's
    window attention laid over its ``bottleneck_shape`` grid, (B, heads, N, N), zero outside a token's window (a
    GLAM row sums to 1 minus its weight on the global tokens)."""

    output: torch.Tensor
    stages: tuple[StageTrace, ...]
    stage_names: tuple[str, ...]
    grids: tuple[tuple[int, int], ...]
    windows: tuple[int, ...]
    skip_gates: dict[int, torch.Tensor] = field(default_factory=dict)  # none: the skips are concatenations

    def stage(self, name: str) -> StageTrace:
        return self.stages[self.stage_names.index(name)]

    def window_attention(self, name: str, block: int = -1) -> WindowAttentionTrace:
        """The window attention of ``block`` in stage ``name`` (e.g. "bottleneck", "encoder 0", "decoder 1")."""
        traced = self.stage(name).blocks[block]
        return traced.window if isinstance(traced, GlamBlockTrace) else traced.attention

    def attention_on_grid(self, name: str, block: int = -1) -> torch.Tensor:
        """That layer's window attention over the stage's whole token grid, (B, heads, N, N)."""
        index = self.stage_names.index(name)
        return window_attention_on_grid(self.window_attention(name, block), self.grids[index], self.windows[index])

    @property
    def bottleneck_shape(self) -> tuple[int, int]:
        return self.grids[self.stage_names.index("bottleneck")]

    @property
    def bottleneck_attention(self) -> torch.Tensor:
        return self.attention_on_grid("bottleneck")


class PatchExpanding(nn.Module):
    """Swin-UNet's upsampling: Linear(C -> f^2 C / r), each token's channels spread over an f x f neighbourhood,
    LayerNorm; ``(B, H, W, C)`` -> ``(B, fH, fW, C / r)`` (f = 2, r = 2 in the decoder; f = p, r = 1 at the end)."""

    def __init__(self, d_model: int, factor: int = 2, reduction: int = 2):
        super().__init__()
        self.factor, self.out_channels = factor, d_model // reduction
        self.expand = nn.Linear(d_model, factor**2 * self.out_channels, bias=False)
        self.norm = LayerNorm(self.out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, height, width, _ = x.shape
        f, c = self.factor, self.out_channels
        y = self.expand(x).view(batch, height, width, f, f, c).permute(0, 1, 3, 2, 4, 5)  # (B, H, f, W, f, C')
        return self.norm(y.reshape(batch, height * f, width * f, c))  # (B, fH, fW, C')


class SwinUNet(nn.Module):
    """Patch embedding -> (stage, patch merging) x n -> bottleneck stage -> (patch expanding, skip, linear, stage)
    x n -> patch expanding x p -> linear to the classes. Stages are Swin stages, or GLAM stacks with G >= 1."""

    architecture = "swin_unet"

    def __init__(self, config: SwinUNetConfig = SwinUNetConfig()):
        super().__init__()
        self.config = c = config
        if c.n_global:
            self.architecture = "glam_swin_unet"
        self.patch_embedding = PatchEmbedding(c.patch_size, c.d_model)
        self.embedding_norm = LayerNorm(c.d_model)
        self.encoder = nn.ModuleList(self._stage(level) for level in range(c.n_merges))
        self.merging = nn.ModuleList(PatchMerging(c.width(level)) for level in range(c.n_merges))
        self.bottleneck = self._stage(c.n_merges)
        self.expanding = nn.ModuleList(PatchExpanding(c.width(level + 1)) for level in range(c.n_merges))
        self.concat_back = nn.ModuleList(nn.Linear(2 * c.width(level), c.width(level)) for level in range(c.n_merges))
        self.decoder = nn.ModuleList(self._stage(level) for level in range(c.n_merges))
        self.norm_up = LayerNorm(c.d_model)
        self.final_expanding = PatchExpanding(c.d_model, factor=c.patch_size, reduction=1)
        self.head = nn.Linear(c.d_model, c.num_classes)

    def _stage(self, level: int) -> nn.Module:
        c = self.config
        width, heads, window, side = c.width(level), c.heads(level), c.window(level), c.side(level)
        if c.n_global:
            return Glam(c.blocks, width, heads, window, c.n_global, (side, side), shifted_windows=window < side)
        return SwinStage(c.blocks, width, heads, window, shifted_windows=window < side)

    def trace(self, x: torch.Tensor) -> SwinUNetTrace:
        c = self.config
        check_images(x, c.image_size)
        side = c.side(0)
        y = self.embedding_norm(self.patch_embedding(x[:, 0])).view(x.shape[0], side, side, c.d_model)  # (B, h, w, C)
        stages, names, skips = [], [], []
        for level in range(c.n_merges):
            stages.append(self.encoder[level].trace(y))
            names.append(f"encoder {level}")
            skips.append(stages[-1].output)  # (B, h / 2^level, w / 2^level, C 2^level)
            y = self.merging[level](stages[-1].output)
        stages.append(self.bottleneck.trace(y))  # (B, h / 2^n, w / 2^n, C 2^n)
        names.append("bottleneck")
        y = stages[-1].output
        for level in reversed(range(c.n_merges)):
            y = self.expanding[level](y)  # (B, h / 2^level, w / 2^level, C 2^level): twice the side, half the width
            y = self.concat_back[level](torch.cat([y, skips[level]], dim=-1))  # 2 C 2^level -> C 2^level
            stages.append(self.decoder[level].trace(y))
            names.append(f"decoder {level}")
            y = stages[-1].output
        y = self.final_expanding(self.norm_up(y))  # (B, H, W, C)
        levels = [*range(c.n_merges), c.n_merges, *reversed(range(c.n_merges))]
        return SwinUNetTrace(
            output=self.head(y).permute(0, 3, 1, 2),  # (B, classes, H, W)
            stages=tuple(stages),
            stage_names=tuple(names),
            grids=tuple((c.side(level), c.side(level)) for level in levels),
            windows=tuple(c.window(level) for level in levels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.trace(x).output
