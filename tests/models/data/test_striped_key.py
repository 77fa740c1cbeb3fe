"""The striped-key task: deterministic, the masks follow the key's orientation, the key is a transposed copy of
itself (same values either way), decoys lie on tissue away from the blobs, and a logistic probe on global mean
statistics reads the key at chance while the same probe reads the bright/dim key of the old task."""

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression

from models.data import ct_slices
from models.data.ct_slices import N_BLOBS, SegmentationTask
from models.data.striped_key import (
    STRIPE_HIGH,
    STRIPE_LOW,
    StripedKeyBatches,
    StripedKeyTask,
    generate_batch,
    generate_sample,
    stripe_period,
    striped_patch,
)


def test_same_seed_and_index_give_the_same_sample():
    task = StripedKeyTask()
    a, b = generate_sample(task, 7, 3), generate_sample(task, 7, 3)
    np.testing.assert_array_equal(a.image, b.image)
    np.testing.assert_array_equal(a.mask, b.mask)
    assert a.objects == b.objects and a.decoy_boxes == b.decoy_boxes and a.key_horizontal == b.key_horizontal
    assert not np.array_equal(a.image, generate_sample(task, 7, 4).image)
    assert not np.array_equal(a.image, generate_sample(task, 8, 3).image)


def test_batches_are_reproducible_from_the_engine_generator():
    batches = StripedKeyBatches(StripedKeyTask(), batch_size=3)
    x1, m1 = batches(0, torch.Generator().manual_seed(5))
    x2, m2 = batches(0, torch.Generator().manual_seed(5))
    assert x1.shape == (3, 1, 64, 64) and x1.dtype == torch.float32
    assert m1.shape == (3, 64, 64) and m1.dtype == torch.int64
    torch.testing.assert_close(x1, x2)
    torch.testing.assert_close(m1, m2)


@pytest.mark.parametrize("size", [32, 64, 96, 128])
def test_shapes_and_ranges_at_every_size(size):
    task = StripedKeyTask(size=size)
    images, masks = generate_batch(task, 0, 0, 4)
    assert images.shape == (4, 1, size, size) and masks.shape == (4, size, size)
    assert images.min() >= 0 and images.max() <= 1
    assert set(masks.unique().tolist()) <= {0, 1}
    np.testing.assert_array_equal(images[2, 0].numpy(), generate_sample(task, 0, 2).image)


@pytest.mark.parametrize("kind", ["key", "local"])
def test_masks_are_the_target_blobs_and_the_key_decides(kind):
    task = StripedKeyTask(kind, noise=0.0)
    horizontal_keys = []
    for index in range(40):
        sample = generate_sample(task, 1, index)
        assert len(sample.objects) == N_BLOBS and sum(o.horizontal for o in sample.objects) == 2
        targets = [region for o, region in zip(sample.objects, sample.object_masks, strict=True) if o.is_target]
        assert len(targets) == 2
        np.testing.assert_array_equal(sample.mask, np.any(targets, axis=0).astype(np.int64))
        for obj in sample.objects:
            expected = obj.horizontal == sample.key_horizontal if kind == "key" else obj.horizontal
            assert obj.is_target == expected
        r0, c0, r1, c1 = sample.key_box
        np.testing.assert_array_equal(
            sample.image[r0:r1, c0:c1],
            striped_patch(task.key_size, stripe_period(task.size), sample.key_horizontal).astype(np.float32),
        )
        horizontal_keys.append(sample.key_horizontal)
    assert 0.3 < np.mean(horizontal_keys) < 0.7


def test_opposite_layout_puts_a_key_in_every_corner_and_each_blob_follows_the_key_across_the_image():
    task = StripedKeyTask(keys="opposite", noise=0.0)
    period, targets_per_image = stripe_period(task.size), []
    for index in range(60):
        sample = generate_sample(task, 4, index)
        assert len(sample.key_boxes) == 4 and sample.key_boxes[0] == sample.key_box
        assert sample.key_orientations[0] == sample.key_horizontal
        assert {(box[0] < 32, box[1] < 32) for box in sample.key_boxes} == {
            (a, b) for a in (True, False) for b in (True, False)
        }
        for box, horizontal in zip(sample.key_boxes, sample.key_orientations, strict=True):
            r0, c0, r1, c1 = box
            np.testing.assert_array_equal(
                sample.image[r0:r1, c0:c1], striped_patch(8, period, horizontal).astype(np.float32)
            )
        for obj, j in zip(sample.objects, sample.object_keys, strict=True):
            r0, c0, _, _ = sample.key_boxes[j]
            assert (obj.center[0] < 32) != (r0 < 32) and (obj.center[1] < 32) != (c0 < 32), "the opposite corner"
            assert obj.is_target == (obj.horizontal == sample.key_orientations[j])
            assert obj.distance > 20
        targets = [region for o, region in zip(sample.objects, sample.object_masks, strict=True) if o.is_target]
        expected = np.any(targets, axis=0) if targets else np.zeros_like(sample.mask, dtype=bool)
        np.testing.assert_array_equal(sample.mask, expected.astype(np.int64))
        targets_per_image.append(len(targets))
    assert 1.5 < np.mean(targets_per_image) < 2.5 and len(set(targets_per_image)) >= 3


def test_one_key_layout_records_its_key_as_the_only_one():
    sample = generate_sample(StripedKeyTask(), 5, 0)
    assert sample.key_boxes == [sample.key_box] and sample.key_orientations == [sample.key_horizontal]
    assert sample.object_keys == [0] * N_BLOBS


def test_the_two_keys_hold_the_same_values_so_their_means_agree():
    for size in (32, 64):
        period = stripe_period(size)
        for side in range(period, size // 4 + 1):
            h, v = striped_patch(side, period, True), striped_patch(side, period, False)
            np.testing.assert_array_equal(h.T, v)
            np.testing.assert_array_equal(np.sort(h, axis=None), np.sort(v, axis=None))
            assert set(np.unique(h)) == {STRIPE_HIGH, STRIPE_LOW}
            assert not np.array_equal(h, v)


def test_key_sits_in_a_corner_on_air_and_the_decoys_on_tissue_away_from_blobs():
    task = StripedKeyTask(noise=0.0)
    corners, placed = set(), 0
    for index in range(40):
        sample = generate_sample(task, 2, index)
        r0, c0, r1, c1 = sample.key_box
        corners.add((r0 < 32, c0 < 32))
        ring = np.pad(np.ones((r1 - r0, c1 - c0), bool), 1)
        assert (sample.image[r0 - 1 : r1 + 1, c0 - 1 : c1 + 1][~ring] == 0).all(), "the key lies on air"
        assert len(sample.decoy_boxes) == len(sample.decoy_horizontal) <= task.n_decoys
        placed += len(sample.decoy_boxes)
        blobs = sample.object_masks.any(axis=0)
        for (d0, e0, d1, e1), horizontal in zip(sample.decoy_boxes, sample.decoy_horizontal, strict=True):
            assert not blobs[d0 - 1 : d1 + 1, e0 - 1 : e1 + 1].any()
            patch = striped_patch(task.key_size, stripe_period(task.size), horizontal)
            np.testing.assert_array_equal(sample.image[d0:d1, e0:e1], patch.astype(np.float32))
            assert sample.image[d0 - 1 : d1 + 1, e0 - 1 : e1 + 1].min() > 0.2, "decoys lie on tissue"
    assert len(corners) == 4
    assert placed >= 0.9 * 40 * task.n_decoys


def test_default_key_size_scales_with_the_image():
    assert [StripedKeyTask(size=n).key_size for n in (32, 64, 96, 128)] == [4, 8, 12, 16]
    assert StripedKeyTask(size=64, key_size=6).key_size == 6


def _mean_statistics(images: np.ndarray) -> np.ndarray:
    """Per image: the mean, the four quadrants' means and the standard deviation, ``(N, 6)``."""
    n = images.shape[-1] // 2
    quadrants = [images[:, r : r + n, c : c + n].mean(axis=(1, 2)) for r in (0, n) for c in (0, n)]
    return np.stack([images.mean(axis=(1, 2)), *quadrants, images.std(axis=(1, 2))], axis=1)


def _probe_accuracy(features: np.ndarray, labels: np.ndarray) -> float:
    """A logistic probe fitted on the first half, scored on the second."""
    half = len(labels) // 2
    scale = features[:half].std(axis=0) + 1e-9
    probe = LogisticRegression(C=10.0, max_iter=2000).fit(features[:half] / scale, labels[:half])
    return float(probe.score(features[half:] / scale, labels[half:]))


@pytest.mark.parametrize("keys", ["one", "opposite"])
def test_a_logistic_probe_on_global_means_reads_the_key_at_chance(keys):
    n = 600
    striped = [generate_sample(StripedKeyTask(size=32, keys=keys), 3, i) for i in range(n)]
    images = np.stack([s.image for s in striped])
    labels = np.array([s.key_horizontal for s in striped])
    accuracy = _probe_accuracy(_mean_statistics(images), labels)
    assert abs(accuracy - 0.5) < 0.08, f"the striped key is readable from global means: {accuracy:.3f}"

    # The same probe reads the old task's bright/dim key almost perfectly: it is able to, when a mean carries it.
    old_task = SegmentationTask(size=32)
    old = [ct_slices.generate_sample(old_task, 3, i) for i in range(n)]
    old_accuracy = _probe_accuracy(
        _mean_statistics(np.stack([s.image for s in old])), np.array([s.key_bright for s in old])
    )
    assert old_accuracy > 0.9, old_accuracy


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"kind": "pancreas"}, "task"),
        ({"size": 50}, "image size"),
        ({"key_size": 40}, "key size"),
        ({"key_size": 2}, "key size"),
        ({"noise": 2}, "noise"),
        ({"n_decoys": 9}, "decoys"),
        ({"n_decoys": True}, "decoys"),
        ({"keys": "two"}, "key layout"),
    ],
)
def test_bad_task_settings_raise_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        StripedKeyTask(**kwargs)
