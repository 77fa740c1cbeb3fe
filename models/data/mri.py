"""Real brain MRI: axial slices of the MNI ICBM152 2009a template that the ``nilearn`` wheel ships, with tissue
classes from its grey- and white-matter probability maps.

The template (Fonov et al. 2009, 2011; Collins et al. 1999) is an average of many healthy adults' T1-weighted
scans, 197 x 233 x 189 voxels of 1 mm. Its files lie inside the installed package
(``nilearn/datasets/data/mni_icbm152_{t1,gm,wm}_tal_nlin_sym_09a_converted.nii.gz``) and are read from there,
never downloaded. Each axial slice is padded to a square, resized to the lab's side by area averaging (the T1
and the two probability maps alike), and the T1 scaled to [0, 1] by the volume's maximum. A pixel's class is
its most probable tissue: 0 background or cerebrospinal fluid (grey + white < 0.5), 1 grey matter, 2 white matter
(whichever of the two is larger). Slices with less than :data:`MIN_BRAIN` of the image in brain are left out;
every :data:`VALIDATION_EVERY`-th remaining slice is held out for validation. Training slices are flipped left to
right at random and get Gaussian noise; samples are a pure function of ``(seed, index)``.
"""

from __future__ import annotations

import importlib.resources
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

PACKAGE = "nilearn"
DATA_DIR = ("datasets", "data")
FILES = {volume: f"mni_icbm152_{volume}_tal_nlin_sym_09a_converted.nii.gz" for volume in ("t1", "gm", "wm")}
CLASSES = ("background / CSF", "grey matter", "white matter")
SIZES = (32, 64, 96, 128)
SPLITS = ("train", "validation")
MIN_BRAIN = 0.15  # the share of a slice's pixels in brain (grey + white >= 0.5) for the slice to be used
VALIDATION_EVERY = 5
NOISE_STREAM = 2


class MRIDataError(RuntimeError):
    """The template files are missing: the package is not installed or lacks them."""


def template_path(volume: str) -> Path:
    """Where the installed ``nilearn`` keeps the template's ``volume`` (``"t1"``, ``"gm"`` or ``"wm"``)."""
    name = FILES[volume]
    try:
        path = Path(str(importlib.resources.files(PACKAGE).joinpath(*DATA_DIR, name)))
    except ModuleNotFoundError:
        raise MRIDataError(
            f"the brain MRI task reads {name} from the '{PACKAGE}' package, which is not installed "
            f"(pip install {PACKAGE})"
        ) from None
    if not path.is_file():
        raise MRIDataError(f"the installed '{PACKAGE}' package has no {'/'.join(DATA_DIR)}/{name} (looked at {path})")
    return path


def read_volume(volume: str) -> np.ndarray:
    """The template's ``volume`` as float32 ``(X, Y, Z)`` (left-right, posterior-anterior, inferior-superior)."""
    import nibabel  # nilearn's own dependency; imported here so the lab loads without it

    return np.asarray(nibabel.load(template_path(volume)).dataobj, dtype=np.float32)


def _axial(volume: np.ndarray, size: int) -> np.ndarray:
    """Every axial slice, anterior up, zero-padded to a square and area-resized: ``(Z, size, size)``."""
    slices = torch.from_numpy(np.ascontiguousarray(volume.transpose(2, 1, 0)[:, ::-1]))  # (Z, Y, X), anterior first
    side = max(slices.shape[1:])
    pad_y, pad_x = side - slices.shape[1], side - slices.shape[2]
    square = F.pad(slices, (pad_x // 2, pad_x - pad_x // 2, pad_y // 2, pad_y - pad_y // 2))  # (Z, side, side)
    return F.interpolate(square[:, None], size=(size, size), mode="area")[:, 0].numpy()


@lru_cache(maxsize=len(SIZES))
def slices(size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every usable axial slice at ``size`` x ``size``: T1 images in [0, 1] ``(S, size, size)`` float32, tissue
    labels ``(S, size, size)`` int64, and each slice's index z in the volume ``(S,)``, inferior to superior."""
    if size not in SIZES:
        raise ValueError(f"image size must be one of {SIZES}, got {size}")
    t1, gm, wm = (read_volume(volume) for volume in FILES)
    t1, gm, wm = _axial(t1 / t1.max(), size), _axial(gm / gm.max(), size), _axial(wm / wm.max(), size)
    brain = gm + wm >= 0.5
    labels = np.where(brain, np.where(wm > gm, 2, 1), 0).astype(np.int64)
    keep = brain.mean(axis=(1, 2)) >= MIN_BRAIN
    return np.clip(t1[keep], 0.0, 1.0).astype(np.float32), labels[keep], np.flatnonzero(keep)


def split_indices(size: int, split: str) -> np.ndarray:
    """The slices of ``split``: every :data:`VALIDATION_EVERY`-th usable slice is validation, the rest train."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    index = np.arange(len(slices(size)[0]))
    held_out = index % VALIDATION_EVERY == VALIDATION_EVERY // 2
    return index[held_out] if split == "validation" else index[~held_out]


@dataclass(frozen=True)
class MRITask:
    """``size`` the image side; ``split`` the slices drawn; ``noise`` the training noise's standard deviation
    (validation slices are shown as the template has them)."""

    size: int = 64
    split: str = "validation"
    noise: float = 0.03

    def __post_init__(self):
        if self.size not in SIZES:
            raise ValueError(f"image size must be one of {SIZES}, got {self.size}")
        if self.split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {self.split!r}")

    @property
    def n_slices(self) -> int:
        return len(split_indices(self.size, self.split))


@dataclass
class MRISample:
    """One slice: ``image`` (H, W) in [0, 1], ``mask`` (H, W) tissue classes, ``slice_index`` its index z in the
    template (1 mm apart). No objects: every pixel's evidence is local (``objects`` stays empty)."""

    image: np.ndarray
    mask: np.ndarray
    slice_index: int
    objects: list = field(default_factory=list)
    object_masks: np.ndarray | None = None


def generate_sample(task: MRITask, seed: int, index: int) -> MRISample:
    """Validation: the ``index``-th validation slice (modulo their number), as is. Train: a slice, flip and noise
    drawn from ``np.random.default_rng([seed, index, 2])``."""
    chosen = split_indices(task.size, task.split)
    images, labels, z = slices(task.size)
    if task.split == "validation":
        k = int(chosen[index % len(chosen)])
        return MRISample(images[k], labels[k], int(z[k]))
    rng = np.random.default_rng([seed, index, NOISE_STREAM])
    k = int(chosen[rng.integers(len(chosen))])
    image, mask = images[k], labels[k]
    if rng.integers(2):
        image, mask = image[:, ::-1], mask[:, ::-1]
    noisy = np.clip(image + rng.normal(scale=task.noise, size=image.shape), 0.0, 1.0).astype(np.float32)
    return MRISample(noisy, np.ascontiguousarray(mask), int(z[k]))


def generate_batch(task: MRITask, seed: int, start: int, count: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Samples ``start .. start + count - 1``: images (B, 1, H, W) float32 and masks (B, H, W) int64."""
    samples = [generate_sample(task, seed, start + i) for i in range(count)]
    images = torch.from_numpy(np.stack([s.image for s in samples]))[:, None]
    return images, torch.from_numpy(np.stack([s.mask for s in samples]))


class MRIBatches:
    """``batch_fn`` for the training engine: fresh augmented training slices every step."""

    def __init__(self, task: MRITask, batch_size: int = 8):
        self.task, self.batch_size = MRITask(task.size, "train", task.noise), batch_size

    def __call__(self, step: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        seed = int(torch.randint(2**31 - 1, (1,), generator=generator))
        return generate_batch(self.task, seed, 0, self.batch_size)
