"""The segmentation lab's tasks by name: what a model is trained on and scored on.

- ``"striped"`` (long range): the striped key of :mod:`models.data.striped_key`, whose orientation says which
  blobs to segment; no global average of the image reads it.
- ``"local"`` (control): the horizontally striped blobs are always the target; their own texture decides.
- ``"mri"`` (real images): brain MRI slices of :mod:`models.data.mri`, three tissue classes; local evidence.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from models.data import mri, striped_key
from models.labs.segmentation.hybrids.common import PAGE_SIZES

TASKS = ("striped", "local", "mri")
LABELS = {
    "striped": "Long range: striped key",
    "local": "Control: local texture decides",
    "mri": "Real images: brain MRI tissue",
}
SIZES = PAGE_SIZES  # the image sides the page offers
VALIDATION_SEED = 12345


@dataclass(frozen=True)
class LabTask:
    """A task of the lab at an image ``size`` (px)."""

    kind: str = "striped"
    size: int = 64

    def __post_init__(self):
        if self.kind not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {self.kind!r}")
        if self.size not in SIZES:
            raise ValueError(f"image size must be one of {SIZES}, got {self.size}")

    @property
    def data(self):
        """The generator's settings: a :class:`StripedKeyTask` or an :class:`MRITask`."""
        if self.kind == "mri":
            return mri.MRITask(self.size)
        return striped_key.StripedKeyTask("key" if self.kind == "striped" else "local", self.size)

    @property
    def module(self):
        return mri if self.kind == "mri" else striped_key

    @property
    def num_classes(self) -> int:
        return len(mri.CLASSES) if self.kind == "mri" else 2

    @property
    def class_names(self) -> tuple[str, ...]:
        return mri.CLASSES if self.kind == "mri" else ("background", "target blob")

    @property
    def long_range(self) -> bool:
        """Whether distant evidence decides (objects carry their distance to it)."""
        return self.kind == "striped"

    @property
    def n_validation(self) -> int | None:
        """How many distinct validation images there are (None: as many as asked for)."""
        return self.data.n_slices if self.kind == "mri" else None

    def sample(self, index: int, seed: int = VALIDATION_SEED):
        """The ``index``-th validation image: ``image`` (H, W), ``mask`` (H, W), ``objects``, ``object_masks``."""
        return self.module.generate_sample(self.data, seed, index)

    def batch(self, start: int, count: int, seed: int = VALIDATION_SEED) -> tuple[torch.Tensor, torch.Tensor]:
        """Validation images ``start .. start + count - 1``: (B, 1, H, W) and masks (B, H, W)."""
        return self.module.generate_batch(self.data, seed, start, count)

    def batches(self, batch_size: int):
        """The engine's ``batch_fn``: fresh training images every step."""
        if not 1 <= batch_size <= 256:
            raise ValueError(f"batch size must be between 1 and 256, got {batch_size}")
        if self.kind == "mri":
            return mri.MRIBatches(self.data, batch_size)
        return striped_key.StripedKeyBatches(self.data, batch_size)
