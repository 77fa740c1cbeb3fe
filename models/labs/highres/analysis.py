"""What the high-resolution attention lab shows, computed here so a page does no tensor math: the windows, the
shifted windows and the nine regions around a picked token; reach maps (which tokens a token can influence after
L blocks) from the masks and from gradients; the accuracy that reach allows on the key-in-a-corner task; the
tokens of a test map that read the key; the cost of each mechanism, formula beside measurement; the memory a 3D
U-Net needs (the lecture's 180 GB); nnFormer's stages; FINE's crop-by-crop walk; GLAM's global-token attention."""

from __future__ import annotations

import copy
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch

from models.blocks.deformable import deformable_attention_cost
from models.blocks.global_tokens import check_global_tokens, glam_cost
from models.blocks.memory import CropMemory
from models.blocks.windows import (
    attention_matrix_bytes,
    check_attention_fits,
    check_window,
    effective_shift,
    msa_cost,
    shift_attention_bias,
    shift_regions,
    window_msa_cost,
    window_partition,
)
from models.core.device import model_device
from models.core.evaluation import IGNORE_INDEX, accuracy, inference
from models.data.long_range import CHANCE, LongRangeTask, corners
from models.labs.highres.models import MAX_MAP, MECHANISMS, WINDOWED, HighResConfig, HighResModel, HighResTrace

# A token "reaches" another when its influence is above this share of the largest influence. Exact zeros are not
# enough: Swin's -100 mask lets e^-100 ~ 4e-44 through across regions, and bilinear sampling at exact token
# centres leaks ~1e-8 through rounding; real influences after a dozen blocks are far above 1e-6.
REACH_THRESHOLD = 1e-6
N_REGIONS = 9


def _check_token(token: tuple[int, int], map_size: int) -> tuple[int, int]:
    row, col = token
    if not (0 <= row < map_size and 0 <= col < map_size):
        raise ValueError(f"token ({row}, {col}) lies outside the {map_size}x{map_size} map")
    return int(row), int(col)


def window_cells(map_size: int, window_size: int, shift: int) -> torch.Tensor:
    """Flat index (row * n + col on the map) of token t of window w of the map rolled by (-s, -s): ``(nW, M*M)``."""
    index = torch.arange(map_size**2).view(1, map_size, map_size, 1)
    rolled = torch.roll(index, shifts=(-shift, -shift), dims=(1, 2)) if shift else index
    return window_partition(rolled, window_size)[0, :, :, 0]


def attention_groups(map_size: int, window_size: int, shift: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per token of the map (flat index): its window in the (rolled) partition, and its group, window * 9 +
    region, so two tokens attend to each other in (S)W-MSA exactly when their groups are equal; ``(n*n,)`` each."""
    cells = window_cells(map_size, window_size, shift)  # (nW, T)
    regions = shift_regions(map_size, map_size, window_size, shift)[None, :, :, None]
    regions = window_partition(regions, window_size)[0, :, :, 0]  # (nW, T), labels of the rolled map
    windows = torch.arange(cells.shape[0])[:, None].expand_as(cells)
    window, group = torch.empty(map_size**2, dtype=torch.long), torch.empty(map_size**2, dtype=torch.long)
    window[cells.flatten()] = windows.flatten()
    group[cells.flatten()] = (windows * N_REGIONS + regions).flatten()
    return window, group


@dataclass
class WindowLayout:
    """Swin's partitions drawn on the map, (n, n) each: ``windows`` the W-MSA window of every token,
    ``shifted_windows`` its SW-MSA window (of the rolled map), ``regions`` its region 0..8 of the rolled map,
    ``groups`` window * 9 + region (equal groups attend to each other in SW-MSA: the slide's irregular windows of
    layer l + 1), ``allowed`` the tokens the picked token attends to in SW-MSA (its mask row: elsewhere -100);
    ``rolled_regions`` the nine regions on the map rolled by (-s, -s), as Swin labels it; ``mask`` the -100 mask
    of the picked token's window of the rolled map (M*M, M*M); ``window`` that window's index; ``shift`` s."""

    windows: np.ndarray
    shifted_windows: np.ndarray
    regions: np.ndarray
    groups: np.ndarray
    allowed: np.ndarray
    rolled_regions: np.ndarray
    mask: np.ndarray
    window: int
    shift: int


def window_layout(map_size: int, window_size: int, token: tuple[int, int]) -> WindowLayout:
    """The windows at layer l, the shifted windows at layer l + 1 and the SW-MSA mask of ``token``'s window."""
    row, col = _check_token(token, map_size)
    shift = effective_shift(map_size, map_size, window_size, shifted=True)
    windows, _ = attention_groups(map_size, window_size, 0)
    shifted, group = attention_groups(map_size, window_size, shift)
    picked = row * map_size + col
    window = int(shifted[picked])
    grid = (map_size, map_size)
    return WindowLayout(
        windows=windows.view(grid).numpy(),
        shifted_windows=shifted.view(grid).numpy(),
        regions=(group % N_REGIONS).view(grid).numpy(),
        groups=group.view(grid).numpy(),
        allowed=(group == group[picked]).view(grid).numpy(),
        rolled_regions=shift_regions(map_size, map_size, window_size, shift).numpy(),
        mask=shift_attention_bias(map_size, map_size, window_size, shift)[window].numpy(),
        window=window,
        shift=shift,
    )


@dataclass
class ReachMaps:
    """What one token reaches after 1..L blocks: ``maps`` (L, n, n) bool; ``influence`` (L, n, n) the gradient
    norm |d h_L(q) / d x(token)| over its maximum (None when read from the masks)."""

    token: tuple[int, int]
    maps: np.ndarray
    influence: np.ndarray | None = None

    @property
    def shares(self) -> np.ndarray:
        """The share of the map reached after each number of blocks: ``(L,)``."""
        return self.maps.reshape(len(self.maps), -1).mean(axis=1)


def _block_shift(mechanism: str, map_size: int, window_size: int, block: int) -> int:
    shifted = mechanism in ("shifted", "glam") and block % 2 == 1
    return effective_shift(map_size, map_size, window_size, shifted)


def connectivity_reach(
    mechanism: str, map_size: int, depth: int, token: tuple[int, int], window_size: int = 4, n_global: int = 1
) -> ReachMaps:
    """Reach from the masks alone: a block lets a token's influence spread to every token of its window and
    region (W-MSA, SW-MSA), to every token (full MSA), or, for GLAM, into its window's global tokens, through
    G-MSA to all global tokens, and from them into every window at the next block."""
    if mechanism == "deformable":
        raise ValueError("deformable attention's reach depends on its learned offsets: read it from gradients")
    config = HighResConfig(mechanism, map_size, depth, window_size, n_global)
    row, col = _check_token(token, map_size)
    reached = torch.zeros(map_size**2, dtype=torch.bool)
    reached[row * map_size + col] = True
    global_reached = torch.zeros((map_size // window_size) ** 2, dtype=torch.bool)  # by window index
    maps = []
    for block in range(config.depth):
        if mechanism == "full":
            reached = torch.ones_like(reached)
        else:
            window, group = attention_groups(
                map_size, window_size, _block_shift(mechanism, map_size, window_size, block)
            )
            spread = reached | torch.isin(group, group[reached])
            if mechanism == "glam":
                spread |= global_reached[window]  # window tokens read their window's global tokens
                global_reached[window[reached]] = True  # global tokens read their whole window
                global_reached[:] = global_reached.any()  # G-MSA among all global tokens
            reached = spread
        maps.append(reached.view(map_size, map_size).clone())
    return ReachMaps((row, col), torch.stack(maps).numpy())


def gradient_reach(
    model: HighResModel, tokens: torch.Tensor, token: tuple[int, int], threshold: float = REACH_THRESHOLD, seed: int = 0
) -> ReachMaps:
    """Reach of a model on one map ``tokens`` (1, n, n): the forward-mode derivative of each block's output
    h_L (1, n, n, C) along a random direction v of ``token``'s embedding, J_L v, by the double-backward trick
    (J v = d/du [u^T J] v, as grid_sample has no forward-mode rule; torch 2.11 lacks its double derivative, the
    pinned 2.13 has it on the CPU), computed in float64 on a CPU copy of the model (one map is small), and
    thresholded at ``threshold`` of its maximum per L."""
    row, col = _check_token(token, model.config.map_size)
    probe = copy.deepcopy(model).double().cpu().eval()
    x = probe.embed_tokens(tokens.cpu()).detach().requires_grad_(True)  # (1, n, n, C)
    direction = torch.zeros_like(x)
    generator = torch.Generator().manual_seed(seed)
    direction[0, row, col] = torch.randn(x.shape[-1], generator=generator, dtype=x.dtype)
    hidden_states = probe.trace_embeddings(x).hidden_states[1:]
    influence = []
    for h in hidden_states:
        u = torch.zeros_like(h, requires_grad=True)
        (vjp,) = torch.autograd.grad(h, x, u, create_graph=True)  # u^T J
        (jvp,) = torch.autograd.grad(vjp, u, direction, retain_graph=True)  # J v, (1, n, n, C)
        norm = jvp[0].norm(dim=-1)  # (n, n)
        influence.append(norm / norm.max().clamp_min(torch.finfo(norm.dtype).tiny))
    influence = torch.stack(influence).detach().cpu().numpy()  # (L, n, n)
    return ReachMaps((row, col), influence > threshold, influence)


def reach_maps(
    mechanism: str,
    map_size: int,
    depth: int,
    token: tuple[int, int],
    window_size: int = 4,
    n_global: int = 1,
    seed: int = 0,
) -> ReachMaps:
    """Reach after 1..depth blocks as the page shows it: from the masks, or for deformable attention (whose reach
    is learned) from the gradients of a fresh seeded model at its initial offsets, K points per head along each
    head's direction."""
    if mechanism != "deformable":
        return connectivity_reach(mechanism, map_size, depth, token, window_size, n_global)
    torch.manual_seed(seed)
    model = HighResModel(HighResConfig("deformable", map_size, depth))
    return gradient_reach(model, LongRangeTask(map_size).example(seed)[0], token)


def mask_key_reach(mechanism: str, map_size: int, depth: int, window_size: int = 4, n_global: int = 1) -> float:
    """The share of the other tokens a corner key reaches after ``depth`` blocks, from the masks, mean over the
    four corners: mean_c (|reach(c)| - 1) / (n^2 - 1)."""
    seen = [
        connectivity_reach(mechanism, map_size, depth, corner, window_size, n_global).maps[-1].sum() - 1
        for corner in corners(map_size, map_size)
    ]
    return float(np.mean(seen)) / (map_size**2 - 1)


def key_reach(model: HighResModel, seed: int = 0) -> float:
    """The share of the other tokens a corner key reaches through ``model``: from the masks (what the architecture
    lets through), or for deformable attention, whose reach is learned, from the trained model's gradients on one
    map per corner with the key there, mean over the corners. (Gradients under-read a trained model whose softmax
    saturates, so the masks are used wherever they decide.)"""
    c = model.config
    if c.mechanism != "deformable":
        return mask_key_reach(c.mechanism, c.map_size, c.depth, c.window_size, c.n_global)
    task = LongRangeTask(c.map_size, 1)
    bits = torch.randint(2, (1, c.map_size, c.map_size), generator=torch.Generator().manual_seed(seed))
    seen = []
    for index, corner in enumerate(corners(c.map_size, c.map_size)):
        tokens, _ = task.make(bits, torch.tensor([index]), torch.tensor([1]))
        seen.append(gradient_reach(model, tokens, corner).maps[-1].sum() - 1)
    return float(np.mean(seen)) / (c.map_size**2 - 1)


def accuracy_bound(mechanism: str, map_size: int, depth: int, window_size: int = 4, n_global: int = 1) -> float:
    """The best accuracy reach allows on the key-in-a-corner task: a scored token is right for sure when the key
    reaches it and by chance otherwise, 1/2 + 1/2 * mean over the corners c of (|reach(c)| - 1) / (n^2 - 1)."""
    return CHANCE + (1 - CHANCE) * mask_key_reach(mechanism, map_size, depth, window_size, n_global)


def evaluate(model: HighResModel, task: LongRangeTask | None = None) -> float:
    """Accuracy on the task's fixed test batches (the key cell not scored)."""
    return accuracy(model, (task or LongRangeTask(model.config.map_size)).test_batches())


MAX_COST_MAP = 4096  # tokens a side the formulas accept (no model is built)


@dataclass(frozen=True)
class CostSpec:
    """One attention layer to count, at any map size (no model is built): the mechanism and its shape. Checked
    when made: the window must tile the map, G must be 1 to 64."""

    mechanism: str
    map_size: int
    d_model: int = 32
    n_heads: int = 4
    window_size: int = 4
    n_global: int = 1
    n_points: int = 4
    n_levels: int = 1

    def __post_init__(self):
        if self.mechanism not in MECHANISMS:
            raise ValueError(f"mechanism must be one of {MECHANISMS}, got {self.mechanism!r}")
        if isinstance(self.map_size, bool) or not isinstance(self.map_size, int):
            raise ValueError(f"map size must be an integer, got {self.map_size!r}")
        if not 1 <= self.map_size <= MAX_COST_MAP:
            raise ValueError(f"map size must be between 1 and {MAX_COST_MAP:,} tokens a side, got {self.map_size:,}")
        if self.mechanism in WINDOWED:
            check_window(self.map_size, self.map_size, self.window_size)
        if self.mechanism == "glam":
            check_global_tokens(self.n_global)

    def model_config(self) -> HighResConfig:
        """The lab's one-block model of this layer (for measuring; the map at most MAX_MAP a side)."""
        c = self
        return HighResConfig(
            c.mechanism, c.map_size, 1, c.window_size, c.n_global, c.n_points, c.n_levels, c.d_model, c.n_heads
        )


def attention_cost(spec: CostSpec) -> int:
    """Multiply-adds of one attention layer by the papers' counts: Swin's Omega(MSA) = 4hwC^2 + 2(hw)^2 C and
    Omega(W-MSA) = 4hwC^2 + 2M^2 hwC (SW-MSA the same), GLAM's windows of G + M^2 tokens plus G-MSA, and
    deformable attention's linear count."""
    n, c = spec.map_size, spec.d_model
    if spec.mechanism == "full":
        return msa_cost(n, n, c)
    if spec.mechanism == "glam":
        return glam_cost(n, n, c, spec.window_size, spec.n_global)
    if spec.mechanism == "deformable":
        values = n * n + (n // 2) ** 2 * (spec.n_levels - 1)
        return deformable_attention_cost(n * n, values, c, spec.n_heads, spec.n_levels, spec.n_points)
    return window_msa_cost(n, n, c, spec.window_size)


def attention_bytes(spec: CostSpec, batch: int) -> int:
    """Bytes of float32 attention weights one layer holds for ``batch`` maps: the (hw)^2 matrix of full MSA,
    nW matrices of M^2 x M^2 (W-MSA) or (G + M^2)^2 plus (nW G)^2 (GLAM), or L K weights per query and head
    (deformable)."""
    n, m, heads = spec.map_size, spec.window_size, spec.n_heads
    if spec.mechanism == "full":
        return attention_matrix_bytes(n * n, n * n, heads, batch)
    if spec.mechanism == "deformable":
        return attention_matrix_bytes(n * n, spec.n_levels * spec.n_points, heads, batch)
    n_windows = (n // m) ** 2
    if spec.mechanism == "glam":
        tokens, n_global = spec.n_global + m * m, n_windows * spec.n_global
        windows = attention_matrix_bytes(tokens, tokens, heads, batch * n_windows)
        return windows + attention_matrix_bytes(n_global, n_global, heads, batch)
    return attention_matrix_bytes(m * m, m * m, heads, batch * n_windows)


def measure_milliseconds(
    config: HighResConfig, batch: int, repeats: int = 3, device: torch.device | str | None = None
) -> float:
    """The median time of one block of ``config`` (depth 1), forward and backward, on ``batch`` random maps, on
    ``device`` (the CPU by default)."""
    torch.manual_seed(0)
    model = HighResModel(replace(config, depth=1)).to(device or "cpu")
    device = model_device(model)
    x = torch.randn(batch, config.map_size, config.map_size, config.d_model, device=device, requires_grad=True)
    times = []
    for _ in range(repeats + 1):  # the first run warms up
        started = time.perf_counter()
        model.trace_embeddings(x).hidden_states[-1].sum().backward()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - started)
    return 1000 * float(np.median(times[1:]))


def example_map(map_size: int, index: int, key: int = 1) -> tuple[torch.Tensor, torch.Tensor, tuple[int, int]]:
    """Test map ``index`` to show: random bits seeded by the index and ``key`` in corner index % 4; tokens and
    targets (1, n, n) and the key's cell."""
    task = LongRangeTask(map_size, 1)
    bits = torch.randint(2, (1, map_size, map_size), generator=torch.Generator().manual_seed(index))
    tokens, targets = task.make(bits, torch.tensor([index % 4]), torch.tensor([key]))
    return tokens, targets, corners(map_size, map_size)[index % 4]


def key_use(model: HighResModel, index: int) -> np.ndarray:
    """Test map ``index`` answered with key 0 and with key 1, per token: 1 right both times (it reads the key),
    1/2 right once (it answers the same either way: blind to the key), 0 wrong both times; NaN on the key cell."""
    right = []
    for key in (0, 1):
        tokens, targets, _ = example_map(model.config.map_size, index, key)
        with inference(model):
            predicted = model(tokens.to(model_device(model))).argmax(dim=-1).cpu()  # (1, n, n)
        right.append((predicted == targets).double())
    use = (right[0] + right[1])[0] / 2
    use[targets[0] == IGNORE_INDEX] = float("nan")
    return use.numpy()


@dataclass
class CostPoint:
    """One mechanism at one map size: the formula's multiply-adds, the attention weights' bytes, the measured
    milliseconds of a block (None when not measured) and, if full attention was refused, why."""

    mechanism: str
    map_size: int
    formula: int
    attention_bytes: int
    milliseconds: float | None
    refused: str | None = None

    @property
    def n_tokens(self) -> int:
        return self.map_size**2


def cost_table(
    map_sizes: Sequence[int],
    template: CostSpec,
    batch: int,
    budget_bytes: int,
    mechanisms: Sequence[str] = MECHANISMS,
    measure: bool = True,
    repeats: int = 3,
    device: torch.device | str | None = None,
) -> list[CostPoint]:
    """Cost per mechanism as the map grows (sizes in increasing order, the widths of ``template``). The table
    stops at the first size whose full attention would not fit in ``budget_bytes``: full attention is refused
    there with the estimate, the other mechanisms still counted and measured. Maps over MAX_MAP a side are
    counted, not measured (on ``device``)."""
    points = []
    for map_size in sorted(map_sizes):
        refused = None
        if "full" in mechanisms:
            try:
                check_attention_fits(map_size**2, template.n_heads, batch, budget_bytes)
            except ValueError as error:
                refused = str(error)
        for mechanism in mechanisms:
            spec = replace(template, mechanism=mechanism, map_size=map_size)
            timed = measure and map_size <= MAX_MAP and not (mechanism == "full" and refused is not None)
            ms = measure_milliseconds(spec.model_config(), batch, repeats, device) if timed else None
            note = refused if mechanism == "full" else None
            points.append(CostPoint(mechanism, map_size, attention_cost(spec), attention_bytes(spec, batch), ms, note))
        if refused is not None:
            break
    return points


@dataclass(frozen=True)
class StoredTensor:
    """One activation a 3D U-Net keeps for its backward pass: where, what, and its size."""

    level: int
    name: str
    channels: int
    voxels: int


@dataclass
class UNetMemory:
    """The activations of one forward pass, the parameter count, and the bytes they take."""

    tensors: tuple[StoredTensor, ...]
    parameters: int
    bytes_per_value: int
    batch: int

    @property
    def activation_bytes(self) -> int:
        return self.batch * self.bytes_per_value * sum(t.channels * t.voxels for t in self.tensors)

    @property
    def activation_gib(self) -> float:
        return self.activation_bytes / 2**30


def _check_unet(shape: Sequence[int], levels: int, base_channels: int, bytes_per_value: int, batch: int) -> None:
    if not 1 <= levels <= 8:
        raise ValueError(f"a U-Net here has between 1 and 8 levels, got {levels}")
    if len(shape) not in (2, 3) or any(not 1 <= side <= 4096 for side in shape):
        raise ValueError(f"the image must have 2 or 3 sides of 1 to 4096 voxels, got {tuple(shape)}")
    if any(side % 2 ** (levels - 1) for side in shape):
        raise ValueError(
            f"{levels} levels halve each side {levels - 1} times: every side must divide by {2 ** (levels - 1)}"
        )
    if not 1 <= base_channels <= 1024 or bytes_per_value not in (2, 4, 8) or not 1 <= batch <= 1024:
        raise ValueError("base channels must be 1 to 1024, bytes per value 2, 4 or 8, and the batch 1 to 1024")


def unet_tensors(
    shape: Sequence[int], base_channels: int, levels: int, in_channels: int, n_classes: int
) -> tuple[StoredTensor, ...]:
    """The tensors of Cicek et al.'s 3D U-Net: at level l (c = base 2^l channels) the pooled input (the image at
    level 0), two 3x3x3 convolutions to c and 2c; above the bottom, a 2x2x2 up-convolution of the 4c channels
    coming up, its concatenation with the 2c skip, two convolutions to 2c; the logits at level 0."""
    tensors = []
    for level in range(levels):
        voxels = int(np.prod([side >> level for side in shape]))
        c = base_channels << level
        named = [("input", in_channels)] if level == 0 else [("pooled", c)]
        named += [("conv 1", c), ("conv 2", 2 * c)]
        if level < levels - 1:
            named += [("up-convolution", 4 * c), ("concatenation", 6 * c), ("up conv 1", 2 * c), ("up conv 2", 2 * c)]
        if level == 0:
            named.append(("logits", n_classes))
        tensors += [StoredTensor(level, name, channels, voxels) for name, channels in named]
    return tuple(tensors)


def unet_parameters(base_channels: int, levels: int, in_channels: int, n_classes: int, dims: int = 3) -> int:
    """Weights and biases of the same U-Net: k^d convolutions with a bias (k = 3), up-convolutions (2^d) without,
    the 1 x 1 output convolution with one. With 3 input channels and 3 classes this is the 19,069,955
    parameters Cicek et al. state for theirs."""
    conv, up = 3**dims, 2**dims
    total, previous = 0, in_channels
    for level in range(levels):
        c = base_channels << level
        total += previous * c * conv + c + c * 2 * c * conv + 2 * c
        previous = 2 * c
    for level in range(levels - 1):
        c = base_channels << level
        total += (4 * c) ** 2 * up + 6 * c * 2 * c * conv + 2 * c + (2 * c) ** 2 * conv + 2 * c
    return total + 2 * base_channels * n_classes + n_classes


def unet_memory(
    shape: Sequence[int] = (512, 512, 256),
    base_channels: int = 32,
    levels: int = 4,
    in_channels: int = 1,
    n_classes: int = 2,
    bytes_per_value: int = 4,
    batch: int = 1,
) -> UNetMemory:
    """The lecture's "intractable memory requirements (180Gb for U-Net with image 512x512x256)", rebuilt from the
    activations a forward pass keeps for the backward pass.

    The slide states only the figure; these assumptions are ours, and give 729 values per voxel, 182.25 GiB
    (196 GB): the 3D U-Net of Cicek et al. (2016) with its 32-64, 64-128, 128-256, 256-512 channels over 4
    levels; float32; batch 1; one stored tensor per operation output (the input, every convolution output with
    batch norm and ReLU in place, every pooled map, up-convolution output and concatenation, the logits).
    Weights, their gradients and Adam's two moments add only 16 bytes x 19 M parameters (0.3 GB)."""
    _check_unet(shape, levels, base_channels, bytes_per_value, batch)
    tensors = unet_tensors(shape, base_channels, levels, in_channels, n_classes)
    parameters = unet_parameters(base_channels, levels, in_channels, n_classes, dims=len(shape))
    return UNetMemory(tensors, parameters, bytes_per_value, batch)


@dataclass
class CropStep:
    """One crop of FINE's walk: its ``position`` (top, left) and the memory ``cells`` it read and wrote; on the
    (gh, gw) memory grid, ``read`` the share of the crop tokens' attention on each cell, ``write`` the share of
    each written cell's attention on the crop, ``visited`` after the step; ``evidence`` (H, W) the gradient
    norm |d out_crop / d image| over its maximum: the image tokens this crop's output depends on."""

    position: tuple[int, int]
    cells: list[int]
    read: np.ndarray
    write: np.ndarray
    visited: np.ndarray
    evidence: np.ndarray

    def uses_outside(self, crop_size: tuple[int, int], threshold: float = REACH_THRESHOLD) -> bool:
        """Whether the crop's output depends on image tokens outside the crop (seen by earlier crops)."""
        top, left = self.position
        outside = self.evidence > threshold
        outside[top : top + crop_size[0], left : left + crop_size[1]] = False
        return bool(outside.any())


def raster_positions(image_size: tuple[int, int], crop_size: tuple[int, int]) -> list[tuple[int, int]]:
    """Crops covering the image row by row, the last of a row or column flush with the border."""

    def starts(side: int, crop: int) -> list[int]:
        if not 1 <= crop <= side:
            raise ValueError(f"a crop side of {crop} does not fit an image side of {side}")
        return sorted({*range(0, side - crop + 1, crop), side - crop})

    return [(top, left) for top in starts(image_size[0], crop_size[0]) for left in starts(image_size[1], crop_size[1])]


def _on_grid(values: torch.Tensor, cells: torch.Tensor, grid: tuple[int, int]) -> np.ndarray:
    board = torch.zeros(grid[0] * grid[1], dtype=values.dtype, device=values.device)
    board[cells] = values
    return board.view(grid).detach().cpu().numpy()


def crop_walk(
    memory: CropMemory, image: torch.Tensor, positions: Sequence[tuple[int, int]], seed: int = 0
) -> list[CropStep]:
    """Run FINE's memory over ``image`` (1, H, W, C) crop by crop at ``positions`` and record, per crop, the
    cells it reads and writes and the image tokens its output depends on (reverse-mode gradients of a random
    projection of the crop's output)."""
    if image.shape[0] != 1:
        raise ValueError(f"a crop walk follows one image, got a batch of {image.shape[0]}")
    memory.eval()
    image = image.detach().clone().requires_grad_(True)
    steps = memory.walk(image, positions)
    generator = torch.Generator().manual_seed(seed)
    walk = []
    for (top, left), step in zip(positions, steps, strict=True):
        direction = torch.randn(step.output.shape, generator=generator, dtype=step.output.dtype).to(image.device)
        (grad,) = torch.autograd.grad(step.output, image, direction, retain_graph=True)
        evidence = grad[0].norm(dim=-1)  # (H, W)
        read = step.read_weights[0].mean(dim=(0, 1))  # (n_c,)
        write = step.write_weights[0].sum(dim=-1).mean(dim=0)  # (n_c,)
        walk.append(
            CropStep(
                position=(top, left),
                cells=step.cells.tolist(),
                read=_on_grid(read, step.cells, memory.grid),
                write=_on_grid(write, step.cells, memory.grid),
                visited=step.memory.visited.cpu().numpy(),
                evidence=(evidence / evidence.max().clamp_min(torch.finfo(evidence.dtype).tiny)).detach().cpu().numpy(),
            )
        )
    return walk


@dataclass
class GlamMaps:
    """GLAM's global tokens around a picked ``token``, per block: ``windows`` its window index (of the rolled
    map at shifted blocks); ``token_to_global`` (L, heads, G) its attention on its window's global tokens;
    ``global_to_window`` (L, heads, G, n, n) each of those global tokens' attention over the window's tokens,
    drawn on the map (0 outside the window); ``global_attention`` (L, heads, nW G, nW G) G-MSA's weights."""

    token: tuple[int, int]
    windows: list[int]
    token_to_global: np.ndarray
    global_to_window: np.ndarray
    global_attention: np.ndarray


def glam_maps(model: HighResModel, tokens: torch.Tensor, token: tuple[int, int]) -> GlamMaps:
    """Run a GLAM model on one map ``tokens`` (1, n, n) and read its global-token attention around ``token``."""
    config = model.config
    if config.mechanism != "glam":
        raise ValueError(f"global-token maps need a GLAM model, got {config.mechanism!r}")
    n, m, g = config.map_size, config.window_size, config.n_global
    row, col = _check_token(token, n)
    with inference(model):
        trace: HighResTrace = model.trace(tokens.to(model_device(model)))
    windows, to_global, to_window, global_attention = [], [], [], []
    for block in trace.blocks:
        cells = window_cells(n, m, block.window.shift)  # (nW, T)
        w, t = (cells == row * n + col).nonzero()[0].tolist()
        weights = block.window.weights[0, w]  # (heads, G + T, G + T)
        board = torch.zeros(weights.shape[0], g, n * n, device=weights.device)
        board[:, :, cells[w].to(weights.device)] = weights[:, :g, g:]
        windows.append(w)
        to_global.append(weights[:, g + t, :g])
        to_window.append(board.view(-1, g, n, n))
        global_attention.append(block.global_attention.weights[0])
    return GlamMaps(
        token=(row, col),
        windows=windows,
        token_to_global=torch.stack(to_global).cpu().numpy(),
        global_to_window=torch.stack(to_window).cpu().numpy(),
        global_attention=torch.stack(global_attention).cpu().numpy(),
    )


@dataclass(frozen=True)
class StageView:
    """One stage of a Swin-like encoder (nnFormer's): its ``resolution`` (tokens a side), ``channels`` C, the
    ``window`` it attends in (M, or the whole map where that is no larger than M) and their count, and one
    attention layer's cost by Swin's formulas: ``local_cost`` Omega(W-MSA) and ``global_cost`` Omega(MSA)."""

    resolution: int
    channels: int
    window: int
    n_windows: int
    local_cost: int
    global_cost: int

    @property
    def is_global(self) -> bool:
        return self.n_windows == 1


def nnformer_stages(map_size: int, window_size: int, n_stages: int, channels: int) -> list[StageView]:
    """nnFormer's idea: patch merging halves the map and doubles C at every stage; a stage whose map is no larger
    than the window attends over the whole map (Swin's rule), so local windows at high resolution turn into global
    attention where the map is small."""
    if isinstance(n_stages, bool) or not isinstance(n_stages, int) or not 1 <= n_stages <= 6:
        raise ValueError(f"the encoder here has 1 to 6 stages, got {n_stages!r}")
    if map_size % 2 ** (n_stages - 1):
        raise ValueError(
            f"{n_stages} stages halve the map {n_stages - 1} times: {map_size} must divide by {2 ** (n_stages - 1)}"
        )
    stages = []
    for stage in range(n_stages):
        resolution, c = map_size >> stage, channels << stage
        window = min(window_size, resolution)
        check_window(resolution, resolution, window)
        stages.append(
            StageView(
                resolution,
                c,
                window,
                (resolution // window) ** 2,
                window_msa_cost(resolution, resolution, c, window),
                msa_cost(resolution, resolution, c),
            )
        )
    return stages


def fine_walk(
    image_size: int, crop_size: int, grid: int, mix_memory: bool = True, d_model: int = 16, seed: int = 0
) -> list[CropStep]:
    """FINE's memory on a random token map of ``image_size`` a side, crop by crop in raster order: a seeded,
    untrained :class:`CropMemory` (what is read, written and depended on follows from its wiring, not training)."""
    torch.manual_seed(seed)
    memory = CropMemory(
        d_model, 2, (image_size, image_size), (grid, grid), (crop_size, crop_size), mix_memory=mix_memory
    )
    image = torch.randn(1, image_size, image_size, d_model)
    return crop_walk(memory, image, raster_positions((image_size, image_size), (crop_size, crop_size)), seed)
