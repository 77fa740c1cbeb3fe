"""Moving squares: one square per frame, straight lines reflected by the walls, and a phase that only the past
tells (the same frame occurs in different phases)."""

import pytest
import torch

from models.data.videos import PHASES, MovingSquares


@pytest.fixture(scope="module")
def test_videos():
    task = MovingSquares()
    videos, phases = next(task.test_batches())
    return task, videos, phases


def corners_from_frames(videos: torch.Tensor) -> torch.Tensor:
    """The top-left corner of the lit block of every frame, read from the pixels, ``(B, T, 2)``."""
    rows = videos[:, :, 0].amax(dim=-1)  # (B, T, size): which rows are lit
    cols = videos[:, :, 0].amax(dim=-2)
    return torch.stack([rows.argmax(-1), cols.argmax(-1)], dim=-1)


def test_every_frame_shows_one_square_of_the_given_side(test_videos):
    task, videos, phases = test_videos
    assert videos.shape == (512, task.frames, 1, task.size, task.size) and phases.shape == (512, task.frames)
    assert set(videos.unique().tolist()) == {0.0, 1.0}
    assert (videos.sum(dim=(-3, -2, -1)) == task.square**2).all()
    rows, cols = videos[:, :, 0].amax(-1).sum(-1), videos[:, :, 0].amax(-2).sum(-1)
    assert (rows == task.square).all() and (cols == task.square).all()  # a square, not a scattered set


def test_squares_move_in_straight_lines_and_reverse_only_at_a_wall(test_videos):
    task, videos, _ = test_videos
    corners = corners_from_frames(videos)
    velocity = corners[:, 1:] - corners[:, :-1]  # (B, T-1, 2)
    assert velocity.abs().max() == 1 and (velocity.abs().sum(-1) > 0).all()
    changed = velocity[:, 1:] != velocity[:, :-1]  # (B, T-2, 2)
    at_wall = (corners[:, 1:-1] == 0) | (corners[:, 1:-1] == task.span)
    assert (changed <= at_wall).all()  # direction changes only where the square touches a wall
    assert (velocity[:, 1:][changed] == -velocity[:, :-1][changed]).all()  # and then it is reflected
    assert changed.any()


def test_the_phase_counts_the_frames_at_a_wall_read_from_the_pixels(test_videos):
    task, videos, phases = test_videos
    frames = videos[:, :, 0]
    border = (
        frames[..., 0, :].amax(-1)
        + frames[..., -1, :].amax(-1)
        + frames[..., :, 0].amax(-1)
        + frames[..., :, -1].amax(-1)
    )
    expected = (border > 0).long().cumsum(dim=1).clamp(max=len(PHASES) - 1)
    assert torch.equal(phases, expected)
    assert (phases[:, 0] == 0).all()  # the square starts away from the walls
    assert set(phases.unique().tolist()) == set(range(len(PHASES)))


def test_the_same_frame_occurs_in_different_phases(test_videos):
    """No function of the frame alone gives the phase: identical frames carry different labels."""
    _, videos, phases = test_videos
    frames = videos.flatten(0, 1).flatten(1)  # (B T, pixels)
    labels = phases.flatten()
    keys = {}
    conflicts = 0
    for frame, label in zip(frames, labels.tolist(), strict=True):
        seen = keys.setdefault(frame.nonzero().flatten()[0].item(), set())
        conflicts += label not in seen and bool(seen)
        seen.add(label)
    assert conflicts > 100


def test_test_and_display_sets_are_fixed_and_apart_from_training():
    task = MovingSquares()
    first, again = next(task.test_batches()), next(task.test_batches())
    assert torch.equal(first[0], again[0]) and torch.equal(first[1], again[1])
    training = task.sample(0, torch.Generator().manual_seed(0))[0]
    assert not torch.equal(training, first[0][: task.batch_size])
    videos, phases = task.display_batch(3)
    assert videos.shape[0] == 3 and torch.equal(videos, task.display_batch(3)[0])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"frames": 1}, "frames"),
        ({"frames": 500}, "frames"),
        ({"size": 4}, "frame size"),
        ({"square": 14}, "side"),
        ({"batch_size": 0}, "batch size"),
    ],
)
def test_settings_that_cannot_work_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MovingSquares(**kwargs)
