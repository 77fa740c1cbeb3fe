"""A long-range task whose key no average of the image can read: a striped key whose orientation decides.

The slices, organs and the four striped blobs are those of :mod:`models.data.ct_slices` (the same body, the same
blob placement). What changes is the key: a small k x k patch in a random image corner, on the air outside the
body, striped like the blobs. Horizontal stripes say "segment the horizontally striped blobs", vertical stripes
"segment the vertically striped ones". The two keys are transposes of each other: the same pixel values in a
different arrangement, so the image mean, every quadrant's mean, the variance and any other statistic that
ignores where a pixel lies are the same either way (a test fits a logistic probe on them: chance).

Look-alike striped patches (decoys) of the key's size lie inside the body, each striped at random and
independently of the key; they sit where the key never does (on tissue, not in a corner on air), so the key is
told apart by its position, not by its look.

``keys="opposite"`` makes the rule relational: all four corners hold a striped key, each striped at random, and a
blob is a target when its stripes match the key in the corner diagonally opposite its quadrant, so each blob's
pixels need their own key, 20 px or more away.

What this does not force: an average of *learned* features. A convolutional encoder can turn "a horizontally
striped patch on air in the top-left corner" into its own channel, and near-uniform attention then averages it
over the image. Measured (depth-2 U-Transformer, batch 16, AdamW 2e-3, 64 px): Dice 0.99 after 500 steps with
one key, 0.98 with four, while the bottleneck's attention mass on the deciding key's cells stayed at 0.4x and
1.2x uniform (head mean; best head 0.6x and 1.9x); the same-depth U-Net stayed at 0.66 and 0.61. The key travels
through the U-Transformer's skip cross-attention instead: without it ("MHSA only", the bottleneck the one path with
global reach) the same training reached Dice 0.97 with 8.0x uniform on the key (head mean; best head 27.8x; 8.6x
and 28.9x in an earlier run with other thread counts), see :mod:`models.labs.segmentation.pretrain`.

``kind="local"`` is the control, as in :mod:`models.data.ct_slices`: the horizontally striped blobs are always the
target and the key is drawn but irrelevant. Samples are a pure function of ``(seed, index)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import torch

from models.data.ct_slices import (
    IMAGE_SIZES,
    TASKS,
    SegmentationBatches,
    SegmentationObject,
    SegmentationTask,
)
from models.data.ct_slices import generate_sample as generate_slice

STRIPE_HIGH, STRIPE_LOW = 0.72, 0.28  # the blobs' stripe intensities in models.data.ct_slices
MAX_DECOYS = 4
DECOY_MARGIN = 2  # px of tissue at 64 px (scaled with the image) around a decoy: to the air, a blob, another decoy
BODY_LEVEL = 0.2  # the noiseless slice is 0 on air and at least ~0.3 inside the body
DECOY_STREAM = 1  # the generator stream for the decoys and the noise: np.random.default_rng([seed, index, 1])
KEY_LAYOUTS = ("one", "opposite")


def stripe_period(size: int) -> int:
    """The blobs' stripe period in px for a ``size``-px image (as in :mod:`models.data.ct_slices`): 4 px at 64."""
    return max(2, int(round(4 * size / 64.0)))


def striped_patch(side: int, period: int, horizontal: bool) -> np.ndarray:
    """A ``(side, side)`` patch of stripes ``period`` px apart, high/low as the blobs, phase set by the patch's own
    first row (or column). The vertical patch is the horizontal one transposed: the same values, the same mean."""
    stripes = (np.arange(side) // (period // 2)) % 2 == 0  # (side,) True = high
    rows = np.where(stripes, STRIPE_HIGH, STRIPE_LOW)[:, None].repeat(side, axis=1)  # horizontal stripes
    return rows if horizontal else rows.T


@dataclass(frozen=True)
class StripedKeyTask:
    """The generator's settings: ``size`` the image side (px), ``key_size`` the key's side (px, ``size // 8`` unless
    given), ``noise`` the Gaussian noise's standard deviation and ``n_decoys`` the look-alike striped patches inside
    the body (as many as fit on free tissue: a crowded slice may hold fewer, see ``decoy_boxes``); ``keys`` one key in
    a random corner, or ``"opposite"``: a key in every corner, each blob decided by the one opposite its quadrant."""

    kind: str = "key"
    size: int = 64
    key_size: int | None = None  # None: size // 8 (8 px at 64)
    noise: float = 0.05
    n_decoys: int = 2
    keys: str = "one"

    def __post_init__(self):
        if self.key_size is None:
            object.__setattr__(self, "key_size", self.size // 8)
        if self.keys not in KEY_LAYOUTS:
            raise ValueError(f"key layout must be one of {KEY_LAYOUTS}, got {self.keys!r}")
        if self.kind not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {self.kind!r}")
        if self.size not in IMAGE_SIZES:
            raise ValueError(f"image size must be one of {IMAGE_SIZES}, got {self.size}")
        period = stripe_period(self.size)
        if not period <= self.key_size <= self.size // 4:
            raise ValueError(
                f"key size must be between {period} px (one stripe period, so both orientations show) and "
                f"{self.size // 4} px, got {self.key_size}"
            )
        if not 0 <= self.noise <= 0.5:
            raise ValueError(f"noise must be between 0 and 0.5, got {self.noise}")
        if (
            isinstance(self.n_decoys, bool)
            or not isinstance(self.n_decoys, int)
            or not 0 <= self.n_decoys <= MAX_DECOYS
        ):
            raise ValueError(f"number of decoys must be an integer between 0 and {MAX_DECOYS}, got {self.n_decoys!r}")

    @property
    def slice_task(self) -> SegmentationTask:
        """The settings of the underlying slice (body, organs, blobs, key corner), drawn without noise."""
        return SegmentationTask(kind=self.kind, size=self.size, key_size=self.key_size, noise=0.0)


@dataclass
class StripedKeySample:
    """One slice. ``key_box`` / ``key_horizontal``: the key (with ``keys="one"``, for ``"key"``, its stripes are the
    target blobs'); ``key_boxes`` / ``key_orientations``: every key (one, or the four corners' with
    ``keys="opposite"``, the first being ``key_box``); ``object_keys[i]``: the index of the key that decides object
    i (its distance is to that key); ``decoy_boxes`` / ``decoy_horizontal``: the look-alikes. Boxes are
    (row0, col0, row1, col1), ends exclusive."""

    image: np.ndarray  # (H, W) float32 in [0, 1]
    mask: np.ndarray  # (H, W) int64, 1 = target
    objects: list[SegmentationObject] = field(default_factory=list)
    object_masks: np.ndarray | None = None  # (N_BLOBS, H, W) bool
    key_box: tuple[int, int, int, int] = (0, 0, 0, 0)
    key_horizontal: bool = True
    decoy_boxes: list[tuple[int, int, int, int]] = field(default_factory=list)
    decoy_horizontal: list[bool] = field(default_factory=list)
    key_boxes: list[tuple[int, int, int, int]] = field(default_factory=list)
    key_orientations: list[bool] = field(default_factory=list)
    object_keys: list[int] = field(default_factory=list)


def _distance_to_box(point: tuple[float, float], box: tuple[int, int, int, int]) -> float:
    """Distance from a point to the nearest pixel centre of a box (row0, col0, row1, col1)."""
    r0, c0, r1, c1 = box
    dr = max(r0 - point[0], 0.0, point[0] - (r1 - 1))
    dc = max(c0 - point[1], 0.0, point[1] - (c1 - 1))
    return float(np.hypot(dr, dc))


def _corner_boxes(size: int, key_box: tuple[int, int, int, int]) -> list[tuple[int, int, int, int]]:
    """The key box moved to the four corners at the same margin, in ct_slices' corner order (0 top left, 1 top
    right, 2 bottom left, 3 bottom right)."""
    r0, _, r1, _ = key_box
    k, m = r1 - r0, min(r0, size - r1)
    starts = (m, size - m - k)
    return [(starts[c // 2], starts[c % 2], starts[c // 2] + k, starts[c % 2] + k) for c in range(4)]


def _opposite_corner(center: tuple[float, float], size: int) -> int:
    """The corner (ct_slices' order) diagonally opposite the image quadrant that holds ``center``."""
    top, left = center[0] < size / 2, center[1] < size / 2
    return (0 if not top else 2) + (0 if not left else 1)


def _free_corners(free: np.ndarray, side: int) -> np.ndarray:
    """Top-left corners (r, c) of every ``side`` x ``side`` square made only of True pixels of ``free``: ``(n, 2)``."""
    integral = np.pad(np.cumsum(np.cumsum(~free, axis=0), axis=1), ((1, 0), (1, 0)))  # blocked pixels, summed
    blocked = integral[side:, side:] - integral[:-side, side:] - integral[side:, :-side] + integral[:-side, :-side]
    return np.argwhere(blocked == 0)


def _grow(region: np.ndarray, margin: int) -> np.ndarray:
    """``region`` widened by ``margin`` px in every direction (a square dilation)."""
    height, width = region.shape
    padded = np.pad(region, margin)
    grown = np.zeros_like(region)
    for dr in range(2 * margin + 1):
        for dc in range(2 * margin + 1):
            grown |= padded[dr : dr + height, dc : dc + width]
    return grown


def generate_sample(task: StripedKeyTask, seed: int, index: int) -> StripedKeySample:
    """The ``index``-th slice of the data set ``seed`` (deterministic).

    The noiseless slice of :func:`models.data.ct_slices.generate_sample` gives the body, organs, blobs, key
    corner and the key's state (bright there, horizontal here: the same fair coin); its key is repainted with
    stripes, the decoys are painted on free tissue, then the noise is added.
    """
    base = generate_slice(task.slice_task, seed, index)
    rng = np.random.default_rng([seed, index, DECOY_STREAM])
    n, k, period = task.size, task.key_size, stripe_period(task.size)
    margin = max(1, int(round(DECOY_MARGIN * n / 64.0)))
    image = base.image.astype(np.float64)
    key_horizontal = base.key_bright
    objects, mask = base.objects, base.mask
    if task.keys == "one":
        key_boxes, key_orientations, object_keys = [base.key_box], [key_horizontal], [0] * len(objects)
    else:
        corners = _corner_boxes(n, base.key_box)
        first = corners.index(tuple(base.key_box))
        key_boxes = [corners[first]] + [box for box in corners if box != corners[first]]
        key_orientations = [key_horizontal] + [bool(rng.integers(2)) for _ in range(3)]
        object_keys = [key_boxes.index(corners[_opposite_corner(o.center, n)]) for o in objects]
        objects = [
            replace(
                o,
                is_target=o.horizontal == key_orientations[j] if task.kind == "key" else o.horizontal,
                distance=_distance_to_box(o.center, key_boxes[j]) if task.kind == "key" else 0.0,
            )
            for o, j in zip(objects, object_keys, strict=True)
        ]
        targets = [region for o, region in zip(objects, base.object_masks, strict=True) if o.is_target]
        mask = np.any(targets, axis=0).astype(np.int64) if targets else np.zeros((n, n), dtype=np.int64)
    body = image > BODY_LEVEL  # tissue, before the keys are painted (they lie on air)
    for (r0, c0, r1, c1), horizontal in zip(key_boxes, key_orientations, strict=True):
        image[r0:r1, c0:c1] = striped_patch(k, period, horizontal)
        body[r0:r1, c0:c1] = False
    free = ~_grow(~body, margin) & ~_grow(base.object_masks.any(axis=0), margin)
    decoy_boxes, decoy_horizontal = [], []
    for _ in range(task.n_decoys):
        corners = _free_corners(free, k)
        if len(corners) == 0:  # no room left on this slice (rare at the smallest sizes)
            break
        dr, dc = corners[rng.integers(len(corners))]
        horizontal = bool(rng.integers(2))
        image[dr : dr + k, dc : dc + k] = striped_patch(k, period, horizontal)
        decoy_boxes.append((int(dr), int(dc), int(dr) + k, int(dc) + k))
        decoy_horizontal.append(horizontal)
        taken = np.zeros_like(free)
        taken[dr : dr + k, dc : dc + k] = True
        free &= ~_grow(taken, margin)

    image += rng.normal(scale=task.noise, size=(n, n))
    image = np.clip(image, 0.0, 1.0).astype(np.float32)
    return StripedKeySample(
        image=image,
        mask=mask,
        objects=objects,
        object_masks=base.object_masks,
        key_box=base.key_box,
        key_horizontal=key_horizontal,
        decoy_boxes=decoy_boxes,
        decoy_horizontal=decoy_horizontal,
        key_boxes=key_boxes,
        key_orientations=key_orientations,
        object_keys=object_keys,
    )


def generate_batch(task: StripedKeyTask, seed: int, start: int, count: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Samples ``start .. start + count - 1`` as tensors: images (B, 1, H, W) and masks (B, H, W)."""
    samples = [generate_sample(task, seed, start + i) for i in range(count)]
    images = torch.from_numpy(np.stack([sample.image for sample in samples]))[:, None]
    masks = torch.from_numpy(np.stack([sample.mask for sample in samples]))
    return images, masks


class StripedKeyBatches(SegmentationBatches):
    """``batch_fn`` for the training engine: fresh striped-key slices every step, from the engine's generator."""

    def __init__(self, task: StripedKeyTask, batch_size: int = 16):
        super().__init__(task.slice_task, batch_size)
        self.task = task

    def __call__(self, step: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        seed = int(torch.randint(2**31 - 1, (1,), generator=generator))
        return generate_batch(self.task, seed, 0, self.batch_size)
