"""Training view: probes of ||dL/dh_k||, clipping, truncated BPTT, the explode preset, LSTM vs RNN."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from models.blocks.recurrent import PROBE
from models.core.engine import TrainConfig
from models.labs.gradients import spec as gt

EXPLODING = gt.GradientRun(
    gap=30, nonlinearity="relu", w_scale=2.0, train=TrainConfig(steps=300, lr=0.05, optimizer="sgd")
)
CLIPPED = EXPLODING.with_train(clip_norm=1.0)


def quick(run: gt.GradientRun, steps: int) -> gt.GradientRun:
    return replace(run, probe_every=1, batch_size=16).with_train(steps=steps)


def test_marked_recall_adds_a_first_step_marker():
    task = gt.GradientRun(gap=6, n_symbols=3).task
    x, y = task.sample(0, torch.Generator().manual_seed(0))
    assert x.shape == (32, 7, 4)
    assert (x[:, 0, -1] == 1).all() and (x[:, 1:, -1] == 0).all()
    assert torch.equal(x[:, 0, :3].argmax(dim=-1), y)


def test_probes_record_per_step_gradient_norms():
    trainer = gt.build_trainer(quick(gt.GradientRun(gap=9), 3), device="cpu")
    trainer.run()
    steps, matrix = trainer.history.probe_matrix(PROBE)
    assert matrix.shape == (3, 10) and np.isfinite(matrix).all() and (matrix > 0).all()
    assert matrix[0, -1] > matrix[0, 0]  # vanilla RNN with torch's init: the gradient fades going back


def test_clipping_keeps_the_norm_under_the_threshold():
    run = quick(CLIPPED, 5)
    trainer = gt.build_trainer(run, device="cpu")
    applied = []
    step = trainer.optimizer.step

    def recording_step(*args, **kwargs):
        grads = [p.grad.flatten() for p in trainer.model.parameters() if p.grad is not None]
        applied.append(float(torch.cat(grads).norm()))
        return step(*args, **kwargs)

    trainer.optimizer.step = recording_step
    trainer.run()
    assert trainer.status == "finished"
    before = trainer.history.column("grad_norm")
    assert (before > 100 * run.train.clip_norm).all()  # the preset really explodes ...
    assert max(applied) <= run.train.clip_norm * (1 + 1e-5)  # ... and every applied step is clipped


def test_explode_preset_diverges_with_a_reason_and_trains_with_clipping():
    exploding = gt.build_trainer(quick(EXPLODING, 20), device="cpu")
    exploding.run()
    assert exploding.status == "diverged"
    assert "became" in exploding.stop_reason and "weights" in exploding.stop_reason
    assert all(torch.isfinite(p).all() for p in exploding.model.parameters())
    clipped = gt.build_trainer(quick(CLIPPED, 20), device="cpu")
    clipped.run()
    assert clipped.status == "finished" and clipped.step == 20


def test_truncation_zeroes_gradients_beyond_the_window():
    run = quick(gt.GradientRun(gap=22), 1)  # T = 23: windows start at 0, 5, 10, 15, 20
    truncated = gt.build_trainer(run.with_train(tbptt_window=5), device="cpu")
    truncated.run()
    _, matrix = truncated.history.probe_matrix(PROBE)
    assert (matrix[0, :20] == 0).all() and (matrix[0, 20:] > 0).all()
    full = gt.build_trainer(run, device="cpu")
    full.run()
    assert (full.history.probe_matrix(PROBE)[1][0] > 0).all()


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_w_scale_sets_every_singular_value_and_the_stated_gate_bias_is_in_the_weights(cell):
    run = gt.GradientRun(cell=cell, hidden_size=8, w_scale=1.5, gate_bias=3.0)
    model = gt.build_model(run)
    for block in model.body.weights(0)["W"].split(8):
        torch.testing.assert_close(torch.linalg.svdvals(block.detach()), torch.full((8,), 1.5), rtol=1e-5, atol=1e-5)
    w = model.body.weights(0)
    total = (w["b_U"] + w["b_W"]).detach()[8:16]  # torch's second block: LSTM f, GRU u (the keep gate)
    torch.testing.assert_close(total, torch.full((8,), 3.0))


def test_the_comparison_states_the_gate_bias_its_models_start_with():
    from models.labs.gradients.pretrain import COMPARISON

    for cell in ("lstm", "gru"):
        model = gt.build_model(replace(COMPARISON, cell=cell))
        torch.testing.assert_close(model.body.keep_gate_bias(), torch.full((32,), COMPARISON.gate_bias))


def test_bad_runs_raise_value_errors():
    with pytest.raises(ValueError, match="cell"):
        gt.GradientRun(cell="transformer")
    with pytest.raises(ValueError, match="gap"):
        gt.GradientRun(gap=0)
    with pytest.raises(ValueError, match="scale of W"):
        gt.GradientRun(w_scale=-1.0)
    with pytest.raises(ValueError, match="window"):
        gt.GradientRun().with_train(tbptt_window=0)


def test_profile_along_time_has_the_lstm_cell_path():
    run = gt.GradientRun(cell="lstm", gap=12, hidden_size=8)
    profile = gt.profile_along_time(gt.build_model(run), run)
    assert profile["lag"][0] == 12 and profile["lag"][-1] == 0
    assert set(profile) == {"lag", "dh", "dC", "forget_path"}
    assert profile["forget_path"][0] > 0.9  # forget bias +9: the cell path barely decays over 12 steps


@pytest.mark.slow
def test_lstm_learns_a_gap_where_the_vanilla_rnn_stays_at_chance():
    """Gap 40, 250 Adam steps, same seed: the LSTM reaches 100% test accuracy, the RNN 24% (chance 25%)."""
    base = replace(gt.GradientRun(gap=40), probe_every=10**6).with_train(steps=250)
    accuracy = {}
    for cell in ("rnn", "lstm"):
        run = replace(base, cell=cell)
        trainer = gt.build_trainer(run, device="cpu")
        trainer.run()
        accuracy[cell] = gt.evaluate(trainer.model, run)
    assert accuracy["lstm"] >= 0.9, accuracy
    assert accuracy["rnn"] <= 0.4, accuracy
