"""Reach maps against references built here from token coordinates: after one W-MSA block a token reaches exactly
its window; W-MSA and SW-MSA alternating reach the union of windows and shifted regions block by block; GLAM
reaches the window, then everything; full attention everything; deformable attention at its initial offsets
the K tokens each side along its row. Read from the masks and from gradients of untrained models, which agree."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from models.data.long_range import LongRangeTask, corners
from models.labs.highres.analysis import (
    REACH_THRESHOLD,
    accuracy_bound,
    connectivity_reach,
    gradient_reach,
    window_layout,
)
from models.labs.highres.models import HighResConfig, HighResModel

CASES = [(16, 4, 6), (8, 2, 5), (12, 4, 4), (14, 7, 3)]  # (map size, window size, depth)
TOKENS = [(0, 0), (5, 6), (15, 3), (13, 14), (7, 7)]


def cell(token: tuple[int, int], n: int, m: int, shift: int) -> tuple[int, int, tuple[int, int]]:
    """The window (row, col) of ``token`` on the map rolled by (-s, -s), and its region (one label per axis):
    rolled coordinate < n - M, < n - s, or the last s."""
    rolled = [(x - shift) % n for x in token]
    regions = tuple(0 if x < n - m else 1 if x < n - shift else 2 for x in rolled) if shift else (0, 0)
    return rolled[0] // m, rolled[1] // m, regions


def block_shift(mechanism: str, n: int, m: int, block: int) -> int:
    return m // 2 if mechanism in ("shifted", "glam") and block % 2 and n > m else 0


def reference_reach(mechanism: str, n: int, m: int, depth: int, token: tuple[int, int]) -> np.ndarray:
    """Reach after 1..depth blocks from coordinates alone; GLAM's global tokens carried by window index."""
    everything = [(r, c) for r in range(n) for c in range(n)]
    reached, global_reached, maps = {token}, set(), []
    for block in range(depth):
        if mechanism == "full":
            reached = set(everything)
        else:
            s = block_shift(mechanism, n, m, block)
            window = {q: cell(q, n, m, s) for q in everything}
            groups = {window[q] for q in reached}
            spread = {q for q in everything if window[q] in groups}
            if mechanism == "glam":
                spread |= {q for q in everything if window[q][:2] in global_reached}
                global_reached |= {window[q][:2] for q in reached}
                global_reached = {window[q][:2] for q in everything} if global_reached else set()
            reached = spread | reached
        board = np.zeros((n, n), dtype=bool)
        for q in reached:
            board[q] = True
        maps.append(board)
    return np.stack(maps)


@pytest.mark.parametrize("mechanism", ["window", "shifted", "glam", "full"])
@pytest.mark.parametrize(("n", "m", "depth"), CASES)
def test_reach_from_the_masks_matches_the_coordinates(mechanism, n, m, depth):
    for token in [t for t in TOKENS if max(t) < n]:
        expected = reference_reach(mechanism, n, m, depth, token)
        np.testing.assert_array_equal(connectivity_reach(mechanism, n, depth, token, m).maps, expected)


@pytest.mark.parametrize("mechanism", ["window", "shifted", "glam", "full"])
def test_reach_from_gradients_matches_the_coordinates(mechanism):
    n, m, depth = 16, 4, 4
    model = HighResModel(HighResConfig(mechanism, n, depth, m))
    tokens, _ = LongRangeTask(n).example()
    for token in [(0, 0), (5, 6), (13, 14)]:
        reach = gradient_reach(model, tokens, token)
        np.testing.assert_array_equal(reach.maps, reference_reach(mechanism, n, m, depth, token))
        assert (reach.influence[reach.maps] > REACH_THRESHOLD).all()


def test_swins_mask_leaks_below_the_threshold_which_is_why_there_is_one():
    """Across regions of a shifted window the -100 mask leaves e^-100 of influence: above 0, far below 1e-6. The
    corner token (15, 15) shares its SW-MSA window (rows and columns 14, 15, 0, 1) with three other regions."""
    n, m = 16, 4
    model = HighResModel(HighResConfig("shifted", n, 2, m))
    tokens, _ = LongRangeTask(n).example()
    reach = gradient_reach(model, tokens, (15, 15))
    same_window = np.zeros((n, n), dtype=bool)
    same_window[np.ix_([14, 15, 0, 1], [14, 15, 0, 1])] = True
    leaked = reach.influence[1][same_window & ~reach.maps[1]]
    assert leaked.size and (leaked > 0).all() and (leaked < 1e-30).all()


def test_deformable_reach_at_its_initial_offsets_is_the_k_tokens_each_side_on_the_row():
    """Offsets start along each head's direction (angles 0 and pi for two heads) at k + 1 tokens, k < K: a token
    q samples (row, col +- 1..K), so a token reaches the tokens up to K columns away on its row."""
    n, k = 16, 4
    model = HighResModel(HighResConfig("deformable", n, 1, n_points=k))
    tokens, _ = LongRangeTask(n).example()
    for row, col in [(5, 6), (0, 0), (9, 15)]:
        expected = np.zeros((n, n), dtype=bool)
        expected[row, max(0, col - k) : col + k + 1] = True
        np.testing.assert_array_equal(gradient_reach(model, tokens, (row, col)).maps[0], expected)


def test_shares_window_stays_at_its_window_shifted_climbs_to_all_glam_full_after_two():
    n, m = 16, 4
    window = connectivity_reach("window", n, 8, (0, 0), m).shares
    shifted = connectivity_reach("shifted", n, 8, (0, 0), m).shares
    np.testing.assert_allclose(window, m * m / n**2)
    assert (np.diff(shifted) >= 0).all() and shifted[0] == window[0] and shifted[-1] == 1.0
    assert (np.diff(shifted[: np.argmax(shifted == 1.0) + 1]) > 0).all()
    np.testing.assert_allclose(connectivity_reach("glam", n, 3, (0, 0), m).shares, [m * m / n**2, 1, 1])
    np.testing.assert_allclose(connectivity_reach("full", n, 2, (0, 0), m).shares, [1, 1])


@pytest.mark.parametrize("mechanism", ["window", "shifted", "glam", "full"])
@pytest.mark.parametrize("depth", [1, 2, 4])
def test_accuracy_bound_is_chance_plus_half_the_keys_reach(mechanism, depth):
    n, m = 16, 4
    seen = [reference_reach(mechanism, n, m, depth, c)[-1].sum() - 1 for c in corners(n, n)]
    expected = 0.5 + 0.5 * np.mean(seen) / (n * n - 1)
    assert accuracy_bound(mechanism, n, depth, m) == pytest.approx(expected)
    if mechanism == "window":
        assert accuracy_bound(mechanism, n, depth, m) == pytest.approx(0.5 + 0.5 * (m * m - 1) / (n * n - 1))


@pytest.mark.parametrize(("n", "m"), [(16, 4), (14, 7), (8, 2)])
def test_window_layout_draws_windows_shifted_windows_regions_and_the_mask_row(n, m):
    token = (n - 1, 1)
    layout = window_layout(n, m, token)
    s = m // 2
    assert layout.shift == s
    for r in range(n):
        for c in range(n):
            assert layout.windows[r, c] == (r // m) * (n // m) + c // m
            wr, wc, regions = cell((r, c), n, m, s)
            assert layout.shifted_windows[r, c] == wr * (n // m) + wc
            assert layout.regions[r, c] == 3 * regions[0] + regions[1]
            assert layout.allowed[r, c] == (cell((r, c), n, m, s) == cell(token, n, m, s))


def test_reach_refuses_what_it_cannot_read():
    with pytest.raises(ValueError, match="outside"):
        connectivity_reach("window", 16, 2, (16, 0))
    with pytest.raises(ValueError, match="learned offsets"):
        connectivity_reach("deformable", 16, 2, (0, 0))
    with pytest.raises(ValueError, match="does not tile"):
        connectivity_reach("window", 16, 2, (0, 0), window_size=5)
    with pytest.raises(ValueError, match="outside"):
        gradient_reach(HighResModel(HighResConfig("full", 8)), torch.zeros(1, 8, 8, dtype=torch.long), (0, 9))
