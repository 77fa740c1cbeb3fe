"""Sequence tasks: shapes, labels against closed forms, step functions and truncated BPTT."""

import pytest
import torch

from models.engine import StepContext, TrainConfig, Trainer
from models.rnn import RecurrentModel
from models.sequence_tasks import (
    AddingProblem,
    FirstSymbolRecall,
    RunningSum,
    SumComparison,
    task_step,
)


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


def test_first_symbol_recall():
    task = FirstSymbolRecall(gap=12, n_symbols=5, batch_size=8)
    x, y = task.sample(0, _gen())
    assert x.shape == (8, 13, 5) and task.length == 13
    assert (x.sum(dim=-1) == 1).all()
    assert (x[:, 0].argmax(dim=-1) == y).all()
    x2, _ = task.sample(0, _gen())
    assert torch.equal(x, x2)


def test_adding_problem():
    x, y = AddingProblem(length=20, batch_size=6).sample(0, _gen())
    assert x.shape == (6, 20, 2) and y.shape == (6, 1)
    assert (x[..., 1].sum(dim=1) == 2).all()
    assert (x[:, :10, 1].sum(dim=1) == 1).all()
    torch.testing.assert_close(y[:, 0], (x[..., 0] * x[..., 1]).sum(dim=1))


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        (lambda: RunningSum(length=0), "length"),
        (lambda: SumComparison(batch_size=0), "batch size"),
        (lambda: FirstSymbolRecall(gap=0), "length"),
        (lambda: FirstSymbolRecall(n_symbols=1), "symbols"),
        (lambda: AddingProblem(length=5000), "length"),
    ],
)
def test_bad_task_settings(factory, message):
    with pytest.raises(ValueError, match=message):
        factory()


@pytest.mark.parametrize("task", [RunningSum(), SumComparison(), FirstSymbolRecall(gap=8), AddingProblem(length=12)])
def test_step_functions_run_in_the_engine_with_tbptt(task):
    torch.manual_seed(0)
    model = RecurrentModel("lstm", task.input_size, 8, task.output_size, mapping=task.mapping)
    trainer = Trainer(model, task_step(task.kind), task.sample, TrainConfig(steps=3, tbptt_window=4), device="cpu")
    history = trainer.run()
    assert trainer.status == "finished" and len(history) == 3
    assert 0 <= history.column("accuracy")[-1] <= 1


def test_step_function_passes_the_window_to_the_model():
    seen = []

    class Spy(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(2))

        def forward(self, x, lengths=None, detach_every=None):
            seen.append(detach_every)
            return x[:, -1, :2] + self.w

    x, y = SumComparison().sample(0, _gen())
    task_step("classification")(Spy(), (x, y), StepContext(step=0, device=torch.device("cpu"), tbptt_window=3))
    assert seen == [3]
