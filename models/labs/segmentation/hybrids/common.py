"""What the segmentation architectures share: the sizes a page allows, the checks every setting goes through, the
map <-> token reshapes, the parameter count, and a window attention laid out on the whole token grid.

Every architecture here takes grey images ``(B, 1, H, W)`` and returns logits ``(B, num_classes, H, W)``, like the
U-Net of :mod:`models.blocks.unet`; its trace offers ``bottleneck_attention`` (B, heads, N, N) over the
``bottleneck_shape`` grid and ``skip_gates`` as :class:`models.blocks.unet.UNetTrace` does, so the segmentation
lab's per-pixel attention reads any of them.
"""

from __future__ import annotations

import torch
from torch import nn

from models.blocks.windows import WindowAttentionTrace

IMAGE_SIZES = (32, 64, 96, 128)  # the tasks' image sides (models.data.ct_slices, models.data.striped_key)
PAGE_SIZES = (32, 64)  # the sizes the architectures page offers
MAX_TOKENS = 256  # full attention over at most this many tokens, the U-Transformer's bottleneck limit
MAX_LAYERS = 12
MAX_CLASSES = 16


def check_int(name: str, value: int, allowed: tuple[int, ...] | range) -> None:
    """A clear message unless ``value`` is an integer in ``allowed``."""
    if isinstance(value, bool) or not isinstance(value, int) or value not in allowed:
        choices = f"between {allowed.start} and {allowed.stop - 1}" if isinstance(allowed, range) else f"in {allowed}"
        raise ValueError(f"{name} must be an integer {choices}, got {value!r}")


def check_common(image_size: int, num_classes: int, d_model: int, n_heads: int) -> None:
    """The settings every architecture has: the image side, the classes, the token width and the heads."""
    check_int("image size", image_size, IMAGE_SIZES)
    check_int("number of classes", num_classes, range(2, MAX_CLASSES + 1))
    check_int("token width d_model", d_model, range(4, 513))
    check_int("number of heads", n_heads, (1, 2, 4, 8))
    if d_model % n_heads:
        raise ValueError(f"the number of heads ({n_heads}) must divide the token width d_model ({d_model})")


def check_encoder(n_layers: int, d_ff: int, d_model: int) -> None:
    """The transformer encoder's depth and feed-forward width (at most 16 d_model)."""
    check_int("number of transformer layers", n_layers, range(1, MAX_LAYERS + 1))
    check_int("feed-forward width", d_ff, range(1, 16 * d_model + 1))


def check_tokens(n_tokens: int, what: str) -> None:
    """Refuse full attention over more than :data:`MAX_TOKENS` tokens, saying where they come from."""
    if n_tokens > MAX_TOKENS:
        raise ValueError(
            f"{what} gives {n_tokens} tokens; full attention allows at most {MAX_TOKENS} "
            "(take larger patches, a deeper CNN or a smaller image)"
        )


def check_images(x: torch.Tensor, image_size: int) -> None:
    """A clear message unless ``x`` is a batch of grey ``image_size`` x ``image_size`` images ``(B, 1, H, W)``."""
    if x.dim() != 4 or x.shape[1] != 1 or tuple(x.shape[2:]) != (image_size, image_size):
        raise ValueError(
            f"this model was built for grey {image_size}x{image_size} images (batch, 1, {image_size}, {image_size}), "
            f"got {tuple(x.shape)}"
        )


def to_tokens(x: torch.Tensor) -> torch.Tensor:
    """``(B, C, h, w)`` -> ``(B, h*w, C)``, row-major."""
    return x.flatten(2).transpose(1, 2)


def to_map(tokens: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """``(B, h*w, C)`` -> ``(B, C, h, w)``: the inverse of :func:`to_tokens`."""
    return tokens.transpose(1, 2).reshape(tokens.shape[0], tokens.shape[2], *grid)


def parameter_count(model: nn.Module) -> int:
    """The number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


class ViTBottleneckTrace:
    """Mixin of the traces whose bottleneck is a ViT encoder (TransUNet, SETR): its ``attentions`` per layer and
    the last layer's as ``bottleneck_attention``, (B, heads, N, N) over the ``bottleneck_shape`` grid."""

    @property
    def attentions(self) -> tuple[torch.Tensor, ...]:
        return self.encoder.attentions

    @property
    def bottleneck_attention(self) -> torch.Tensor:
        return self.encoder.attentions[-1]


class ConvBNReLU(nn.Sequential):
    """A k x k convolution (padding k // 2), BatchNorm and ReLU."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3):
        super().__init__(
            nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )


def window_attention_on_grid(trace: WindowAttentionTrace, grid: tuple[int, int], window_size: int) -> torch.Tensor:
    """A W-MSA / SW-MSA layer's weights laid out over the whole token grid: ``(B, heads, h*w, h*w)``.

    Row q holds what token q read: its window's weights at the keys' places on the (un-rolled) map and zero
    elsewhere. A window token's weights on GLAM's global tokens are left out, so its row sums to 1 minus them.
    The trace's weights are per window of the map rolled by (-s, -s): window w's token t sits at
    ((w // n_cols) M + t // M + s, (w % n_cols) M + t % M + s) mod (h, w) of the map.
    """
    height, width = grid
    weights = trace.weights  # (B, nW, heads, P + M*M, P + M*M)
    n_windows, m = weights.shape[1], window_size
    n_prefix = weights.shape[-1] - m * m
    if n_prefix < 0 or height % m or width % m or n_windows != (height // m) * (width // m):
        raise ValueError(
            f"attention over {n_windows} windows of {weights.shape[-1]} tokens does not fit "
            f"{window_size}x{window_size} windows on a {height}x{width} grid"
        )
    cols = width // m
    w_index = torch.arange(n_windows)[:, None]
    t_index = torch.arange(m * m)[None, :]
    rows = ((w_index // cols) * m + t_index // m + trace.shift) % height  # (nW, M*M)
    columns = ((w_index % cols) * m + t_index % m + trace.shift) % width
    flat = (rows * width + columns).to(weights.device)  # (nW, M*M) token index on the map
    inner = weights[..., n_prefix:, n_prefix:].transpose(1, 2)  # (B, heads, nW, M*M, M*M)
    full = weights.new_zeros(weights.shape[0], weights.shape[2], height * width, height * width)
    full[:, :, flat[:, :, None], flat[:, None, :]] = inner  # (B, heads, hw, hw)
    return full
