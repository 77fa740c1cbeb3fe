"""CT-like synthetic slices with exact masks, for the segmentation lab.

Every slice has an elliptical body outline (soft tissue), a few organ-like structures, a bright
"spine", texture and noise, and four look-alike striped blobs: two striped horizontally, two
vertically. Which blobs are the target depends on the task:

- ``"key"`` (long range): a small calibration key in a random image corner, outside the body, is
  bright (segment the horizontally striped blobs) or dim (segment the vertically striped ones).
  Around a blob both kinds look the same, so only the distant key decides; a model that cannot
  see it does best by segmenting all four blobs (Dice 2/3).
- ``"local"`` (control): the horizontally striped blobs are always the target; the key is drawn
  but irrelevant, so the blob's own texture decides.

Each object records the distance from its centre to the nearest pixel of its deciding evidence
(the key for ``"key"``, the object itself, i.e. 0, for ``"local"``). Samples are a pure function
of ``(seed, index)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

TASKS = ("key", "local")
IMAGE_SIZES = (32, 64, 96, 128)
N_BLOBS = 4
KEY_BRIGHT = 1.0
MAX_PLACEMENT_ATTEMPTS = 50


@dataclass(frozen=True)
class SegmentationTask:
    """The generator's settings: ``size`` is the image side in pixels; ``key_dim`` the dim key's intensity
    (0 makes it invisible on the black air, so only the bright key's presence or absence signals)."""

    kind: str = "key"
    size: int = 64
    key_size: int = 8
    noise: float = 0.05
    key_dim: float = 0.5

    def __post_init__(self):
        if self.kind not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {self.kind!r}")
        if self.size not in IMAGE_SIZES:
            raise ValueError(f"image size must be one of {IMAGE_SIZES}, got {self.size}")
        if not 2 <= self.key_size <= self.size // 4:
            raise ValueError(f"key size must be between 2 and {self.size // 4} px, got {self.key_size}")
        if not 0 <= self.noise <= 0.5:
            raise ValueError(f"noise must be between 0 and 0.5, got {self.noise}")
        if not 0 <= self.key_dim <= 0.8:
            raise ValueError(f"dim key intensity must be between 0 (invisible on air) and 0.8, got {self.key_dim}")


@dataclass
class SegmentationObject:
    """One striped blob: centre (row, col), semi-axes, stripe direction, label and evidence distance."""

    center: tuple[float, float]
    radii: tuple[float, float]
    horizontal: bool
    is_target: bool
    distance: float


@dataclass
class SegmentationSample:
    image: np.ndarray  # (H, W) float32 in [0, 1]
    mask: np.ndarray  # (H, W) int64, 1 = target
    objects: list[SegmentationObject] = field(default_factory=list)
    object_masks: np.ndarray | None = None  # (N_BLOBS, H, W) bool
    key_box: tuple[int, int, int, int] = (0, 0, 0, 0)  # row0, col0, row1, col1 (exclusive)
    key_bright: bool = True


def _ellipse(rows: np.ndarray, cols: np.ndarray, center, radii, angle: float = 0.0) -> np.ndarray:
    dr, dc = rows - center[0], cols - center[1]
    cos, sin = np.cos(angle), np.sin(angle)
    u, v = cos * dr + sin * dc, -sin * dr + cos * dc
    return (u / radii[0]) ** 2 + (v / radii[1]) ** 2 <= 1.0


def _smooth_noise(rng: np.random.Generator, size: int, cell: int) -> np.ndarray:
    """Low-frequency texture: coarse noise upsampled with bilinear interpolation."""
    coarse = rng.normal(size=(size // cell + 2, size // cell + 2))
    grid = np.arange(size) / cell
    i0 = grid.astype(int)
    t = grid - i0
    rows = coarse[i0] * (1 - t)[:, None] + coarse[i0 + 1] * t[:, None]
    return rows[:, i0] * (1 - t)[None, :] + rows[:, i0 + 1] * t[None, :]


def generate_sample(task: SegmentationTask, seed: int, index: int) -> SegmentationSample:
    """The ``index``-th slice of the data set ``seed`` (deterministic)."""
    rng = np.random.default_rng([seed, index])
    n = task.size
    s = n / 64.0
    rows, cols = np.mgrid[0:n, 0:n].astype(np.float64)
    center = (n / 2 + rng.uniform(-2, 2) * s, n / 2 + rng.uniform(-2, 2) * s)
    body_radii = (rng.uniform(21, 24) * s, rng.uniform(25, 28) * s)
    body = _ellipse(rows, cols, center, body_radii)
    image = np.zeros((n, n))
    image[body] = 0.4
    image += body * 0.04 * _smooth_noise(rng, n, max(2, int(6 * s)))
    organs = [  # (offset row, offset col, radii, intensity): liver-, spleen-, kidney-like
        ((-4, -11), (9, 7), 0.55),
        ((-5, 13), (6, 5), 0.5),
        ((9, 9), (4, 3), 0.62),
        ((9, -9), (4, 3), 0.62),
    ]
    for (dr, dc), radii, value in organs:
        oc = (center[0] + (dr + rng.uniform(-1.5, 1.5)) * s, center[1] + (dc + rng.uniform(-1.5, 1.5)) * s)
        organ = _ellipse(rows, cols, oc, (radii[0] * s, radii[1] * s), rng.uniform(-0.4, 0.4)) & body
        image[organ] = value
    spine = _ellipse(rows, cols, (center[0] + 15 * s, center[1]), (3.5 * s, 3.5 * s))
    image[spine] = 0.8

    key_bright = bool(rng.integers(2))
    corner = int(rng.integers(4))
    k, margin = task.key_size, max(1, int(round(2 * s)))
    r0 = margin if corner < 2 else n - margin - k
    c0 = margin if corner % 2 == 0 else n - margin - k
    image[r0 : r0 + k, c0 : c0 + k] = KEY_BRIGHT if key_bright else task.key_dim
    key_rows, key_cols = np.mgrid[r0 : r0 + k, c0 : c0 + k]

    objects, object_masks = _place_blobs(rng, task, rows, cols, center, body_radii, key_rows, key_cols, key_bright)
    period = max(2, int(round(4 * s)))
    mask = np.zeros((n, n), dtype=np.int64)
    for obj, region in zip(objects, object_masks, strict=True):
        coord = rows if obj.horizontal else cols
        stripes = (np.floor(coord / (period / 2)) % 2).astype(bool)
        image[region] = np.where(stripes[region], 0.72, 0.28)
        mask[region & obj.is_target] = 1
    image += rng.normal(scale=task.noise, size=(n, n))
    image = np.clip(image, 0.0, 1.0).astype(np.float32)
    return SegmentationSample(image, mask, objects, object_masks, (r0, c0, r0 + k, c0 + k), key_bright)


def _place_blobs(rng, task, rows, cols, center, body_radii, key_rows, key_cols, key_bright):
    """Four non-overlapping blobs inside the body, two per stripe direction, in random order."""
    s = task.size / 64.0
    horizontal = rng.permutation([True, True, False, False])
    objects, masks, centers = [], [], []
    failures = 0
    while len(objects) < N_BLOBS:
        if failures == MAX_PLACEMENT_ATTEMPTS:  # the first blobs left no room: place all again
            objects, masks, centers, failures = [], [], [], 0
        radii = (rng.uniform(4.5, 6.0) * s, rng.uniform(4.5, 6.0) * s)
        angle = rng.uniform(0, 2 * np.pi)
        reach = rng.uniform(0, 0.62)
        c = (center[0] + reach * body_radii[0] * np.sin(angle), center[1] + reach * body_radii[1] * np.cos(angle))
        if any(np.hypot(c[0] - o[0], c[1] - o[1]) < (13 * s) for o in centers):
            failures += 1
            continue
        failures = 0
        i = len(objects)
        is_h = bool(horizontal[i])
        is_target = is_h if (task.kind == "local" or key_bright) else not is_h
        distance = float(np.min(np.hypot(key_rows - c[0], key_cols - c[1]))) if task.kind == "key" else 0.0
        centers.append(c)
        objects.append(SegmentationObject((float(c[0]), float(c[1])), radii, is_h, is_target, distance))
        masks.append(_ellipse(rows, cols, c, radii))
    return objects, np.stack(masks)


def generate_batch(task: SegmentationTask, seed: int, start: int, count: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Samples ``start .. start + count - 1`` as tensors: images (B, 1, H, W) and masks (B, H, W)."""
    samples = [generate_sample(task, seed, start + i) for i in range(count)]
    images = torch.from_numpy(np.stack([sample.image for sample in samples]))[:, None]
    masks = torch.from_numpy(np.stack([sample.mask for sample in samples]))
    return images, masks


class SegmentationBatches:
    """``batch_fn`` for the training engine: fresh slices every step, drawn from the engine's generator."""

    def __init__(self, task: SegmentationTask, batch_size: int = 16):
        if not 1 <= batch_size <= 256:
            raise ValueError(f"batch size must be between 1 and 256, got {batch_size}")
        self.task = task
        self.batch_size = batch_size

    def __call__(self, step: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        seed = int(torch.randint(2**31 - 1, (1,), generator=generator))
        return generate_batch(self.task, seed, 0, self.batch_size)
