"""Toy token tasks: their targets against hand-written answers, typed input checked."""

import pytest
import torch

from models.data.tokens import ToyTask


def test_tasks_targets_are_right():
    tokens = torch.tensor([[3, 1, 2, 1]])
    assert ToyTask("reverse", length=4).targets(tokens).tolist() == [[1, 2, 1, 3]]
    assert ToyTask("sort", length=4).targets(tokens).tolist() == [[1, 1, 2, 3]]
    assert ToyTask("count", length=4).targets(tokens).tolist() == [[1, 2, 1, 2]]
    assert ToyTask("offset_copy", length=4, offset=1).targets(tokens).tolist() == [[-100, 3, 1, 2]]


def test_task_input_checks():
    with pytest.raises(ValueError, match="task must be"):
        ToyTask("juggle")
    with pytest.raises(ValueError, match="sequence length"):
        ToyTask(length=1000)
    task = ToyTask("reverse", length=4)
    assert task.parse("1, 2 3 0").tolist() == [[1, 2, 3, 0]]
    for bad in ("1 2 3", "a b c d", "1 2 3 99"):
        with pytest.raises(ValueError):
            task.parse(bad)


def test_test_batches_are_fixed_and_apart_from_training():
    task = ToyTask("reverse")
    first, again = list(task.test_batches()), list(task.test_batches())
    assert len(first) == 4 and all(torch.equal(a[0], b[0]) for a, b in zip(first, again, strict=True))
    assert not torch.equal(first[0][0], task.sample(0, torch.Generator().manual_seed(0))[0])
