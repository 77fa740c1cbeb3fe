import numpy as np
import pytest
import torch

from models.data.ct_slices import (
    N_BLOBS,
    SegmentationBatches,
    SegmentationTask,
    generate_batch,
    generate_sample,
)


def _distance_to_box(point, box) -> float:
    """Closed form: distance from a point to the nearest pixel centre of an axis-aligned box."""
    r0, c0, r1, c1 = box
    dr = max(r0 - point[0], 0.0, point[0] - (r1 - 1))
    dc = max(c0 - point[1], 0.0, point[1] - (c1 - 1))
    return float(np.hypot(dr, dc))


def test_same_seed_and_index_give_the_same_sample():
    task = SegmentationTask()
    a, b = generate_sample(task, 7, 3), generate_sample(task, 7, 3)
    np.testing.assert_array_equal(a.image, b.image)
    np.testing.assert_array_equal(a.mask, b.mask)
    assert a.objects == b.objects
    assert not np.array_equal(a.image, generate_sample(task, 7, 4).image)
    assert not np.array_equal(a.image, generate_sample(task, 8, 3).image)


def test_batches_are_reproducible_from_the_engine_generator():
    batches = SegmentationBatches(SegmentationTask(), batch_size=3)
    x1, m1 = batches(0, torch.Generator().manual_seed(5))
    x2, m2 = batches(0, torch.Generator().manual_seed(5))
    assert x1.shape == (3, 1, 64, 64) and m1.shape == (3, 64, 64) and m1.dtype == torch.int64
    torch.testing.assert_close(x1, x2)
    torch.testing.assert_close(m1, m2)


@pytest.mark.parametrize("kind", ["key", "local"])
def test_masks_are_exactly_the_target_blobs(kind):
    task = SegmentationTask(kind)
    for index in range(20):
        sample = generate_sample(task, 0, index)
        assert sample.image.min() >= 0.0 and sample.image.max() <= 1.0
        assert len(sample.objects) == N_BLOBS
        assert sum(o.horizontal for o in sample.objects) == 2
        targets = [region for o, region in zip(sample.objects, sample.object_masks, strict=True) if o.is_target]
        assert len(targets) == 2
        np.testing.assert_array_equal(sample.mask, np.any(targets, axis=0).astype(np.int64))
        assert not (sample.object_masks.sum(0) > 1).any(), "blobs must not overlap"


def test_key_decides_which_stripes_are_targets():
    for index in range(40):
        key_sample = generate_sample(SegmentationTask("key"), 1, index)
        r0, c0, r1, c1 = key_sample.key_box
        key_value = key_sample.image[r0:r1, c0:c1].mean()
        assert key_value > 0.85 if key_sample.key_bright else 0.35 < key_value < 0.65
        for obj in key_sample.objects:
            assert obj.is_target == (obj.horizontal == key_sample.key_bright)
        for obj in generate_sample(SegmentationTask("local"), 1, index).objects:
            assert obj.is_target == obj.horizontal


def test_recorded_distances_are_centre_to_key_distances():
    task = SegmentationTask("key")
    distances = []
    for index in range(30):
        sample = generate_sample(task, 2, index)
        for obj in sample.objects:
            assert obj.distance == pytest.approx(_distance_to_box(obj.center, sample.key_box), abs=1e-9)
            distances.append(obj.distance)
        assert all(o.distance == 0.0 for o in generate_sample(SegmentationTask("local"), 2, index).objects)
    assert min(distances) > 10 and max(distances) > 40


def test_no_shortcut_through_position_or_key_state():
    task = SegmentationTask("key")
    samples = [generate_sample(task, 3, i) for i in range(200)]
    corners = {(s.key_box[0] < 32, s.key_box[1] < 32) for s in samples}
    assert len(corners) == 4
    assert 0.35 < np.mean([s.key_bright for s in samples]) < 0.65
    target_rows = [o.center[0] for s in samples for o in s.objects if o.is_target]
    decoy_rows = [o.center[0] for s in samples for o in s.objects if not o.is_target]
    assert abs(np.mean(target_rows) - np.mean(decoy_rows)) < 1.5


def test_generate_batch_stacks_samples():
    images, masks = generate_batch(SegmentationTask(size=32), 0, 5, 2)
    assert images.shape == (2, 1, 32, 32) and masks.shape == (2, 32, 32)
    np.testing.assert_array_equal(images[1, 0].numpy(), generate_sample(SegmentationTask(size=32), 0, 6).image)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"kind": "pancreas"}, "task"),
        ({"size": 50}, "image size"),
        ({"key_size": 40}, "key size"),
        ({"noise": 2}, "noise"),
    ],
)
def test_bad_task_settings_raise_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SegmentationTask(**kwargs)


def test_blob_placement_restarts_instead_of_hanging(monkeypatch):
    """Sequential placement can leave no room for the last blob; it then places all four again."""
    import models.data.ct_slices as data

    monkeypatch.setattr(data, "MAX_PLACEMENT_ATTEMPTS", 2)  # restart after two failures in a row
    for index in range(20):
        sample = data.generate_sample(SegmentationTask(), 4, index)
        assert len(sample.objects) == N_BLOBS and sample.mask.sum() > 0
        assert not (sample.object_masks.sum(0) > 1).any()
