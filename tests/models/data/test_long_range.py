"""The key-in-a-corner task: targets against a cell-by-cell reading of the map, a balanced fixed test set on which
a key-blind answer scores 1/2 and an answer that reads the key scores 1, and clear messages for bad sizes."""

from __future__ import annotations

import pytest
import torch

from models.core.evaluation import IGNORE_INDEX
from models.data.long_range import CHANCE, KEY_TOKEN, TEST_MAPS_PER_CASE, LongRangeTask, corners


def read_key(tokens: torch.Tensor) -> tuple[tuple[int, int], int]:
    """The one key cell of a (H, W) map and its bit, found by scanning every cell."""
    cells = [(r, c) for r in range(tokens.shape[0]) for c in range(tokens.shape[1]) if tokens[r, c] >= KEY_TOKEN]
    assert len(cells) == 1
    return cells[0], int(tokens[cells[0]]) - KEY_TOKEN


def test_each_label_is_its_bit_xor_the_key_in_a_corner():
    task = LongRangeTask(size=6, batch_size=64)
    tokens, targets = task.sample(0, torch.Generator().manual_seed(3))
    seen = set()
    for t, y in zip(tokens, targets, strict=True):
        cell, key = read_key(t)
        assert cell in corners(6, 6)
        seen.add(cell)
        for r in range(6):
            for c in range(6):
                expected = IGNORE_INDEX if (r, c) == cell else int(t[r, c]) ^ key
                assert int(y[r, c]) == expected
    assert seen == set(corners(6, 6))


def test_the_test_set_is_fixed_balanced_and_apart_from_training():
    task = LongRangeTask(size=8)
    first, again = list(task.test_batches()), list(task.test_batches())
    assert all(torch.equal(a[0], b[0]) for a, b in zip(first, again, strict=True))
    cases = {}
    for tokens, _ in first:
        for t in tokens:
            case = read_key(t)
            cases[case] = cases.get(case, 0) + 1
    assert cases == {(corner, key): TEST_MAPS_PER_CASE for corner in corners(8, 8) for key in (0, 1)}
    assert not torch.equal(first[0][0][: task.batch_size], task.sample(0, torch.Generator().manual_seed(0))[0])


def accuracy_of(answer, task: LongRangeTask) -> float:
    correct = total = 0
    for tokens, targets in task.test_batches():
        scored = targets != IGNORE_INDEX
        correct += int((answer(tokens) == targets)[scored].sum())
        total += int(scored.sum())
    return correct / total


def test_a_key_blind_answer_scores_chance_and_reading_the_key_solves_it():
    task = LongRangeTask(size=8)

    def with_key(tokens: torch.Tensor) -> torch.Tensor:
        keys = torch.stack([torch.tensor(read_key(t)[1]) for t in tokens])
        return tokens.clamp(max=1) ^ keys[:, None, None]

    assert accuracy_of(lambda tokens: tokens.clamp(max=1), task) == CHANCE
    assert accuracy_of(with_key, task) == 1.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"size": 1}, "map size"), ({"size": 1000}, "map size"), ({"batch_size": 0}, "batch size")],
)
def test_bad_sizes_are_refused_with_a_reason(kwargs, message):
    with pytest.raises(ValueError, match=message):
        LongRangeTask(**kwargs)


def test_make_checks_its_bits():
    task = LongRangeTask(size=4)
    corner, key = torch.zeros(1, dtype=torch.long), torch.ones(1, dtype=torch.long)
    with pytest.raises(ValueError, match="expected bits"):
        task.make(torch.zeros(1, 5, 5, dtype=torch.long), corner, key)
    with pytest.raises(ValueError, match="expected bits"):
        task.make(torch.full((1, 4, 4), 2), corner, key)
