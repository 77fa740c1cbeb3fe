"""The brain MRI loader reads the template from the installed nilearn package (checked against nibabel reading the
same file), is deterministic, and fails with a message naming the package and the file when they are missing."""

import importlib.resources
from pathlib import Path

import nibabel
import numpy as np
import pytest

from models.data import mri


def test_the_files_come_from_the_installed_package():
    for volume, name in mri.FILES.items():
        path = mri.template_path(volume)
        assert path == Path(str(importlib.resources.files("nilearn"))) / "datasets" / "data" / name
        assert path.is_file()


def test_slices_against_nibabel_and_the_tissue_contrast():
    images, labels, z = mri.slices(32)
    assert images.shape == labels.shape and images.shape[1:] == (32, 32) and z.shape == (len(images),)
    assert images.dtype == np.float32 and images.min() >= 0 and images.max() <= 1
    assert set(np.unique(labels)) == {0, 1, 2} and 50 < len(images) < 189
    volume = np.asarray(nibabel.load(mri.template_path("t1")).dataobj, dtype=np.float64)  # (197, 233, 189)
    for k in (0, len(images) // 2, len(images) - 1):
        # area resizing keeps the mean (up to its overlapping windows): the padded 233 x 233 slice over the max
        expected = volume[:, :, z[k]].sum() / (233 * 233) / volume.max()
        assert images[k].mean() == pytest.approx(expected, rel=5e-3)
    # T1 contrast: white matter is brighter than grey matter, grey than background / CSF
    means = [images[labels == c].mean() for c in range(3)]
    assert means[2] > means[1] > means[0]


def test_splits_are_disjoint_and_samples_deterministic():
    train, validation = mri.split_indices(32, "train"), mri.split_indices(32, "validation")
    images, _, z = mri.slices(32)
    assert not set(train) & set(validation) and len(train) + len(validation) == len(images)
    task = mri.MRITask(32, "train")
    a, b = mri.generate_sample(task, 3, 7), mri.generate_sample(task, 3, 7)
    np.testing.assert_array_equal(a.image, b.image)
    assert a.slice_index in z[train]
    v = mri.generate_sample(mri.MRITask(32), 0, 1)
    np.testing.assert_array_equal(v.image, images[validation[1]])
    assert v.slice_index == z[validation[1]]


def test_a_missing_file_is_a_clear_message(monkeypatch):
    monkeypatch.setitem(mri.FILES, "t1", "no_such_template.nii.gz")
    with pytest.raises(mri.MRIDataError, match="'nilearn' package has no datasets/data/no_such_template.nii.gz"):
        mri.template_path("t1")


def test_a_missing_package_is_a_clear_message(monkeypatch):
    monkeypatch.setattr(mri, "PACKAGE", "nilearn_not_installed")
    with pytest.raises(mri.MRIDataError, match="not installed .pip install nilearn_not_installed"):
        mri.template_path("gm")
