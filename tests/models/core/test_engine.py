"""The training engine: convergence, stop, clipping, NaN handling, reproducibility, bounded history."""

import math
import time

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from models.core.engine import MetricHistory, StepMetrics, StepOutput, TrainConfig, Trainer, TrainerGroup

TRUE_W = torch.tensor([[2.0, -1.0, 0.5]])


def regression_batch(step, generator):
    x = torch.randn(32, 3, generator=generator)
    return x, x @ TRUE_W.T


def regression_step(model, batch, context):
    x, y = batch
    prediction = model(x)
    return StepOutput(loss=F.mse_loss(prediction, y), metrics={"error": (prediction - y).abs().mean()})


def make_trainer(**config) -> Trainer:
    torch.manual_seed(0)
    return Trainer(nn.Linear(3, 1), regression_step, regression_batch, TrainConfig(**config), device="cpu")


def test_it_converges_and_reports_every_step():
    trainer = make_trainer(steps=300, lr=0.05)
    history = trainer.run()
    assert trainer.status == "finished" and trainer.step == 300
    assert history.column("step").tolist() == list(range(1, 301))
    assert history.column("loss")[-1] < 1e-4 < history.column("loss")[0]
    torch.testing.assert_close(trainer.model.weight.data, TRUE_W, atol=1e-2, rtol=0)


def test_chunks_and_callback():
    trainer = make_trainer(steps=60, chunk_size=25)
    sizes = []
    trainer.run(callback=lambda chunk: sizes.append(len(chunk)))
    assert sizes == [25, 25, 10]


def test_stop_request_halts_between_steps():
    trainer = make_trainer(steps=1000, chunk_size=10)
    trainer.run_chunk()
    trainer.request_stop()
    assert trainer.run_chunk() == []
    assert trainer.status == "stopped" and trainer.step == 10
    assert "stopped by the user" in trainer.stop_reason


def test_the_same_seed_reproduces_the_run():
    runs = []
    for _ in range(2):
        trainer = make_trainer(steps=40, seed=7)
        runs.append((trainer.run().column("loss"), trainer.model.weight.detach().clone()))
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    torch.testing.assert_close(runs[0][1], runs[1][1], rtol=0, atol=0)
    other = make_trainer(steps=40, seed=8).run().column("loss")
    assert not np.array_equal(runs[0][0], other)


def test_clipping_bounds_the_applied_update():
    trainer = make_trainer(steps=1, lr=1.0, optimizer="sgd", clip_norm=0.1)
    before = trainer.model.weight.detach().clone(), trainer.model.bias.detach().clone()
    metrics = trainer.run_chunk()[0]
    update = torch.cat([(trainer.model.weight - before[0]).flatten(), trainer.model.bias - before[1]])
    assert metrics.grad_norm > 0.1  # the norm reported is the one before clipping
    assert update.norm().item() == pytest.approx(0.1, rel=1e-4)  # sgd with lr 1 moves by the clipped gradient


def test_a_non_finite_loss_stops_with_a_reason_and_keeps_finite_weights():
    def poisoned(model, batch, context):
        output = regression_step(model, batch, context)
        if context.step == 7:
            output.loss = output.loss * float("nan")
        return output

    trainer = Trainer(nn.Linear(3, 1), poisoned, regression_batch, TrainConfig(steps=100, chunk_size=5), device="cpu")
    trainer.run()
    assert trainer.status == "diverged" and trainer.step == 7
    assert "loss became nan at step 8" in trainer.stop_reason
    assert trainer.history.column("step")[-1] == 8 and math.isnan(trainer.history.column("loss")[-1])
    assert all(torch.isfinite(p).all() for p in trainer.model.parameters())


def test_divergence_restores_the_last_finite_weights():
    trainer = make_trainer(steps=200, lr=1e6, optimizer="sgd", chunk_size=4)
    trainer.run()
    assert trainer.status == "diverged"
    assert "became" in trainer.stop_reason and "the last with a finite loss" in trainer.stop_reason
    assert all(torch.isfinite(p).all() for p in trainer.model.parameters())
    assert math.isfinite(regression_step(trainer.model, regression_batch(0, torch.Generator()), None).loss.item())


def test_probe_gradient_norms_are_per_time_step():
    def probed(model, batch, context):
        x = batch  # (B, T, 2)
        hidden = model(x)  # (B, T, 2)
        loss = hidden[:, -1].pow(2).sum()  # only the last step reaches the loss
        return StepOutput(loss=loss, probes={"h": hidden})

    trainer = Trainer(
        nn.Linear(2, 2), probed, lambda s, g: torch.randn(4, 6, 2, generator=g), TrainConfig(steps=3), device="cpu"
    )
    trainer.run()
    steps, matrix = trainer.history.probe_matrix("h")
    assert steps.tolist() == [1, 2, 3] and matrix.shape == (3, 6)
    assert (matrix[:, :-1] == 0).all() and (matrix[:, -1] > 0).all()


def test_history_is_bounded_and_spans_the_whole_run():
    history = MetricHistory(capacity=100)
    for step in range(1, 1001):
        history.append(StepMetrics(step=step, loss=1.0 / step, grad_norm=1.0))
    steps = history.column("step")
    assert len(history) <= 100
    assert steps[0] <= 16 and steps[-1] >= 990
    assert np.all(np.diff(steps) > 0)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("steps", 0, "steps"),
        ("lr", -1.0, "learning rate"),
        ("lr", float("nan"), "learning rate"),
        ("optimizer", "lbfgs", "optimizer"),
        ("clip_norm", 0.0, "clipping"),
        ("tbptt_window", 0, "truncated-BPTT"),
        ("chunk_size", 0, "chunk"),
    ],
)
def test_bad_config_raises_a_clear_value_error_when_it_is_made(field, value, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**{field: value})


def test_a_non_finite_gradient_keeps_the_weights_whose_loss_was_finite():
    trainer = make_trainer(steps=50, chunk_size=10)
    trainer.step_fn = lambda model, batch, context: _nan_gradient_at(4, model, batch, context)
    trainer.run()
    before_step_5, overflow = trainer.history.entries[-2:]
    assert trainer.status == "diverged" and trainer.step == 4 and before_step_5.step == 4
    assert overflow.step == 5 and math.isnan(overflow.grad_norm) and math.isfinite(overflow.loss)
    assert "gradient norm became nan at step 5" in trainer.stop_reason
    assert "restored the weights of step 4" in trainer.stop_reason


def _nan_gradient_at(step, model, batch, context):
    """A finite loss whose gradient is NaN: d/dw of sqrt(|w - w|) at 0."""
    output = regression_step(model, batch, context)
    if context.step == step:
        weight = model.weight.sum()
        output.loss = output.loss + (weight - weight.detach()).abs().sqrt()
    return output


def test_run_for_honours_its_deadline_inside_a_chunk():
    """A slow step function: run_for(0.05) stops after the step that passes the deadline, not at the chunk's end."""

    def slow(model, batch, context):
        time.sleep(0.02)
        return regression_step(model, batch, context)

    trainer = Trainer(nn.Linear(3, 1), slow, regression_batch, TrainConfig(steps=500, chunk_size=200), device="cpu")
    started = time.perf_counter()
    done = trainer.run_for(0.05)
    assert 1 <= len(done) <= 4 and trainer.step == len(done)
    assert time.perf_counter() - started < 0.5
    assert trainer.status == "running"


def test_run_for_takes_at_least_one_step():
    trainer = make_trainer(steps=10)
    assert len(trainer.run_for(0.0)) == 1


def test_a_group_trains_its_members_side_by_side_and_reads_like_one_trainer():
    group = TrainerGroup({name: make_trainer(steps=30, lr=lr) for name, lr in (("slow", 1e-3), ("fast", 5e-2))})
    assert group.status == "ready" and group.step == 0 and group.config.steps == 30
    while not group.done:
        group.run_for(0.01)
    assert group.status == "finished" and group.step == 30
    assert set(group.histories) == set(group.models) == {"slow", "fast"}
    assert group.histories["fast"]["loss"][-1] < group.histories["slow"]["loss"][-1]


def test_a_stopped_group_reports_each_member():
    group = TrainerGroup({"a": make_trainer(steps=100), "b": make_trainer(steps=100)})
    group.run_for(0.01)
    group.request_stop()
    group.run_for(0.01)
    assert group.done and group.status == "stopped"
    assert group.stop_reason.startswith("a: stopped by the user") and "; b: stopped by the user" in group.stop_reason


def test_a_cosine_schedule_decays_the_learning_rate_to_zero():
    trainer = make_trainer(steps=10, lr=0.1, schedule="cosine")
    seen = []
    step = trainer.optimizer.step

    def recording_step(*args, **kwargs):
        seen.append(trainer.optimizer.param_groups[0]["lr"])
        return step(*args, **kwargs)

    trainer.optimizer.step = recording_step
    trainer.run()
    expected = [0.1 * 0.5 * (1 + math.cos(math.pi * s / 10)) for s in range(10)]
    assert seen == pytest.approx(expected)
    assert seen[0] == pytest.approx(0.1) and seen[-1] < 0.01
    with pytest.raises(ValueError, match="schedule"):
        TrainConfig(schedule="step")
