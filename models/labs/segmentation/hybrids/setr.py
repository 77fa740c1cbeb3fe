"""SETR (Zheng et al. 2021, "Rethinking Semantic Segmentation from a Sequence-to-Sequence Perspective with
Transformers"), small: a pure ViT encoder on image patches and the paper's three decoders on it.

Encoder (Sec. 3.2, Fig. 1(a)): the image is cut into p x p patches, each linearly embedded, plus a learned
position embedding: E = {e_1 + p_1, ..., e_N + p_N}; L_e pre-norm transformer layers Z^l (the package's encoder),
no convolution anywhere. Decoders (Sec. 3.3), on the tokens reshaped to the (H/p, W/p) map:

- ``naive``: a 1x1 Conv-BN-ReLU and a 1x1 conv to the classes, then bilinear upsampling to full resolution.
- ``pup`` (progressive upsampling, Fig. 1(b)): log2(p) steps of (3x3 Conv-BN-ReLU, bilinear x2), then a 1x1
  conv to the classes (the paper: four steps for p = 16).
- ``mla`` (multi-level feature aggregation, Fig. 1(c)): M streams from Z^m at M evenly spaced layers
  (m = L_e/M, 2 L_e/M, ..., L_e); in each a 1x1 conv halves the channels, a top-down element-wise sum adds the
  deeper streams, then a 3x3 conv, a 3x3 conv halving the channels again and bilinear x4 (or x p if p < 4);
  the streams are concatenated, a 1x1 conv gives the classes, bilinear upsampling the full resolution.

The decoders are switchable on one encoder: :meth:`SETR.with_decoder` returns a model that shares this one's
encoder (the same parameters) with a fresh decoder of another kind.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from models.blocks.patches import PatchEmbedding
from models.blocks.positional import LearnedPositionalEmbedding
from models.blocks.transformer import EncoderTrace, LayerNorm, TransformerEncoder
from models.labs.segmentation.hybrids.common import (
    ConvBNReLU,
    ViTBottleneckTrace,
    check_common,
    check_encoder,
    check_images,
    check_int,
    check_tokens,
    to_map,
)

DECODERS = ("naive", "pup", "mla")
DECODER_LABELS = {"naive": "naive", "pup": "progressive upsampling (PUP)", "mla": "multi-level aggregation (MLA)"}
PATCH_SIZES = (2, 4, 8, 16)  # powers of two: PUP upsamples x2 per step
MLA_STREAMS = 4  # the paper's M


@dataclass(frozen=True)
class SETRConfig:
    """``patch_size`` p (the paper: 16); ``decoder`` one of :data:`DECODERS`; ``decoder_channels`` the width of
    the PUP and MLA decoders (the paper: 256) and of the naive decoder's hidden layer."""

    image_size: int = 64
    num_classes: int = 2
    patch_size: int = 4
    decoder: str = "pup"
    d_model: int = 64
    n_heads: int = 4
    n_layers: int = 4
    d_ff: int = 128
    decoder_channels: int = 32

    def __post_init__(self):
        check_common(self.image_size, self.num_classes, self.d_model, self.n_heads)
        if self.decoder not in DECODERS:
            raise ValueError(f"SETR's decoder must be one of {DECODERS}, got {self.decoder!r}")
        check_int("patch size", self.patch_size, PATCH_SIZES)
        check_encoder(self.n_layers, self.d_ff, self.d_model)
        check_int("decoder channels", self.decoder_channels, (8, 16, 32, 64, 128, 256))
        if self.image_size % self.patch_size:
            raise ValueError(f"patch size {self.patch_size} must divide the image size {self.image_size}")
        check_tokens(
            self.grid**2, f"a {self.image_size}x{self.image_size} image in {self.patch_size}x{self.patch_size} patches"
        )
        if self.decoder == "mla" and self.n_layers < 2:
            raise ValueError("the MLA decoder aggregates features of several layers: it needs at least 2 layers")

    @property
    def grid(self) -> int:
        """The side of the token map."""
        return self.image_size // self.patch_size

    @property
    def mla_layers(self) -> tuple[int, ...]:
        """The layers (1-based) the MLA streams read: M = min(4, L_e) of them, evenly spaced, the last one L_e."""
        streams = min(MLA_STREAMS, self.n_layers)
        return tuple(i * self.n_layers // streams for i in range(1, streams + 1))


@dataclass
class SETRTrace(ViTBottleneckTrace):
    """What SETR computed: ``output`` logits (B, classes, H, W); ``encoder`` the ViT's trace (its ``attentions``:
    (B, heads, N, N) per layer over the ``bottleneck_shape`` grid); ``decoder`` its kind; ``decoder_inputs`` the
    maps (B, d, h, w) the decoder read (the last layer's, or MLA's taps)."""

    output: torch.Tensor
    encoder: EncoderTrace
    bottleneck_shape: tuple[int, int]
    decoder: str
    decoder_inputs: tuple[torch.Tensor, ...]
    skip_gates: dict[int, torch.Tensor] = field(default_factory=dict)  # none: SETR has no skips


class SETREncoder(nn.Module):
    """Patches -> e_i = x_i W^e + p_i -> L_e pre-norm layers -> LayerNorm: a ViT without a class token."""

    def __init__(self, config: SETRConfig):
        super().__init__()
        c = config
        self.patch_embedding = PatchEmbedding(c.patch_size, c.d_model)  # W^e
        self.position = LearnedPositionalEmbedding(c.grid**2, c.d_model, init_std=0.02)  # p_i
        self.transformer = TransformerEncoder(c.n_layers, c.d_model, c.n_heads, c.d_ff, norm_first=True)

    def trace(self, x: torch.Tensor) -> EncoderTrace:
        return self.transformer.trace(self.position(self.patch_embedding(x[:, 0])))  # (B, N, d)


class NaiveDecoder(nn.Module):
    """1x1 Conv-BN-ReLU, 1x1 conv to the classes, bilinear up by p."""

    def __init__(self, config: SETRConfig):
        super().__init__()
        c = config
        self.scale = c.patch_size
        self.project = nn.Sequential(
            ConvBNReLU(c.d_model, c.decoder_channels, 1), nn.Conv2d(c.decoder_channels, c.num_classes, 1)
        )

    def forward(self, maps: list[torch.Tensor]) -> torch.Tensor:
        logits = self.project(maps[-1])  # (B, classes, h, w)
        return F.interpolate(logits, scale_factor=self.scale, mode="bilinear", align_corners=False)


class ProgressiveUpsampling(nn.Module):
    """log2(p) x (3x3 Conv-BN-ReLU, bilinear x2), then a 1x1 conv to the classes."""

    def __init__(self, config: SETRConfig):
        super().__init__()
        c = config
        steps = c.patch_size.bit_length() - 1
        widths = [c.d_model] + [c.decoder_channels] * steps
        self.steps = nn.ModuleList(ConvBNReLU(i, o) for i, o in zip(widths[:-1], widths[1:], strict=True))
        self.classify = nn.Conv2d(widths[-1], c.num_classes, 1)

    def forward(self, maps: list[torch.Tensor]) -> torch.Tensor:
        y = maps[-1]  # (B, d, h, w)
        for step in self.steps:
            y = F.interpolate(step(y), scale_factor=2, mode="bilinear", align_corners=False)  # (B, C, 2h, 2w)
        return self.classify(y)  # (B, classes, H, W)


class MultiLevelAggregation(nn.Module):
    """M streams: LayerNorm, 1x1 conv (channels halved), top-down sum, 3x3 conv, 3x3 conv (halved again), bilinear x4;
    concatenated, a 1x1 conv to the classes, bilinear up to full resolution."""

    def __init__(self, config: SETRConfig):
        super().__init__()
        c = config
        n, dc = len(c.mla_layers), c.decoder_channels
        self.stream_scale = min(4, c.patch_size)
        self.final_scale = c.patch_size // self.stream_scale
        self.norms = nn.ModuleList(LayerNorm(c.d_model) for _ in range(n))  # each tap normed, as mmseg's MLA neck
        self.reduce = nn.ModuleList(ConvBNReLU(c.d_model, dc, 1) for _ in range(n))
        self.fuse = nn.ModuleList(ConvBNReLU(dc, dc) for _ in range(n))
        self.out = nn.ModuleList(ConvBNReLU(dc, dc // 2) for _ in range(n))
        self.classify = nn.Conv2d(n * (dc // 2), c.num_classes, 1)

    def forward(self, maps: list[torch.Tensor]) -> torch.Tensor:
        normed = [norm(z.permute(0, 2, 3, 1)).permute(0, 3, 1, 2) for norm, z in zip(self.norms, maps, strict=True)]
        reduced = [reduce(z) for reduce, z in zip(self.reduce, normed, strict=True)]  # M x (B, dc, h, w)
        for m in reversed(range(len(reduced) - 1)):  # top-down: the deepest stream flows into the shallower ones
            reduced[m] = reduced[m] + reduced[m + 1]
        streams = [
            F.interpolate(out(fuse(r)), scale_factor=self.stream_scale, mode="bilinear", align_corners=False)
            for r, fuse, out in zip(reduced, self.fuse, self.out, strict=True)
        ]  # M x (B, dc / 2, 4h, 4w)
        logits = self.classify(torch.cat(streams, dim=1))
        if self.final_scale == 1:
            return logits
        return F.interpolate(logits, scale_factor=self.final_scale, mode="bilinear", align_corners=False)


DECODER_MODULES = {"naive": NaiveDecoder, "pup": ProgressiveUpsampling, "mla": MultiLevelAggregation}


class SETR(nn.Module):
    """The ViT encoder on p x p patches and one of the three decoders (``config.decoder``)."""

    architecture = "setr"

    def __init__(self, config: SETRConfig = SETRConfig(), encoder: SETREncoder | None = None):
        super().__init__()
        self.config = config
        self.encoder = encoder if encoder is not None else SETREncoder(config)
        self.decoder = DECODER_MODULES[config.decoder](config)

    def with_decoder(self, decoder: str) -> SETR:
        """A SETR with a fresh ``decoder`` on this model's encoder (shared: the same parameters, trained or not)."""
        return SETR(dataclasses.replace(self.config, decoder=decoder), encoder=self.encoder)

    def trace(self, x: torch.Tensor) -> SETRTrace:
        c = self.config
        check_images(x, c.image_size)
        grid = (c.grid, c.grid)
        encoded = self.encoder.trace(x)  # hidden_states[l] = Z^l, (B, N, d); output = LN(Z^L_e)
        if c.decoder == "mla":
            layers = [encoded.hidden_states[m] for m in c.mla_layers[:-1]] + [encoded.output]
        else:
            layers = [encoded.output]
        maps = [to_map(z, grid) for z in layers]  # (B, d, h, w) each
        return SETRTrace(
            output=self.decoder(maps),  # (B, classes, H, W)
            encoder=encoded,
            bottleneck_shape=grid,
            decoder=c.decoder,
            decoder_inputs=tuple(maps),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.trace(x).output
