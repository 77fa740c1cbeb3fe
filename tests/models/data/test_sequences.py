"""Sequence tasks: shapes, labels against closed forms, fixed test and display batches, labels for the views."""

import pytest
import torch

from models.data.sequences import MarkedRecall, RunningSum, SumComparison


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_running_sum_targets_are_cumulative_sums():
    x, y = RunningSum(length=7, batch_size=5).sample(0, _gen())
    assert x.shape == y.shape == (5, 7, 1)
    assert x.min() >= -1 and x.max() <= 1
    for t in range(7):
        torch.testing.assert_close(y[:, t], x[:, : t + 1].sum(dim=1))


def test_sum_comparison_labels():
    x, y = SumComparison(length=9, batch_size=200).sample(0, _gen())
    assert x.shape == (200, 9, 2) and y.shape == (200,)
    expected = [int(sum(float(v) for v in seq[:, 0]) > sum(float(v) for v in seq[:, 1])) for seq in x]
    assert y.tolist() == expected
    assert 0.3 < y.float().mean() < 0.7


def test_marked_recall():
    task = MarkedRecall(gap=12, n_symbols=5, batch_size=8)
    x, y = task.sample(0, _gen())
    assert x.shape == (8, 13, 6) and task.length == task.memory_span == 13
    assert (x[..., :5].sum(dim=-1) == 1).all()
    assert (x[:, 0, -1] == 1).all() and (x[:, 1:, -1] == 0).all()
    assert (x[:, 0, :5].argmax(dim=-1) == y).all()
    x2, _ = task.sample(0, _gen())
    assert torch.equal(x, x2)
    assert task.token_labels(x[0])[0] == task.classes[int(y[0])]


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        (lambda: RunningSum(length=0), "length"),
        (lambda: SumComparison(batch_size=0), "batch size"),
        (lambda: MarkedRecall(gap=0), "length"),
        (lambda: MarkedRecall(n_symbols=1), "symbols"),
        (lambda: RunningSum(length=5000), "length"),
    ],
)
def test_bad_task_settings(factory, message):
    with pytest.raises(ValueError, match=message):
        factory()


@pytest.mark.parametrize("task", [RunningSum(), SumComparison(), MarkedRecall(gap=8)])
def test_test_and_display_batches_are_fixed_and_apart_from_training(task):
    ((x_test, y_test),) = list(task.test_batches())
    assert len(x_test) == 1024 and torch.equal(x_test, next(iter(task.test_batches()))[0])
    assert not torch.equal(x_test[:64], task.sample(0, _gen(0))[0])
    (x, y), names = task.display_batch(5)
    assert len(x) == 5 and names == [f"example {i}" for i in range(1, 6)]
    assert torch.equal(x, task.display_batch(5)[0][0])
    assert len(task.label_names(y)) == 5 and len(task.token_labels(x[0])) == x.shape[1]


def test_label_names_follow_the_targets():
    x, y = RunningSum(length=4, batch_size=3).sample(0, _gen())
    assert RunningSum().label_names(y) == ["final sum > 0" if float(t[-1]) > 0 else "final sum <= 0" for t in y]
    assert SumComparison().label_names(torch.tensor([1, 0])) == ["sum 1 > sum 2", "sum 1 <= sum 2"]
    assert RunningSum().token_labels(torch.tensor([[0.25], [-1.0]])) == ["+0.25", "-1.00"]
