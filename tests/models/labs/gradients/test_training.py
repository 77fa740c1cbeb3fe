"""Training view: probes of ||dL/dh_k||, clipping, truncated BPTT, the explode preset, LSTM vs RNN."""

import json
import math
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
    strong = gt.GradientRun(
        gap=30, nonlinearity="relu", w_scale=2.0, train=TrainConfig(steps=5, lr=0.05, optimizer="sgd", clip_norm=1.0)
    )
    run = quick(strong, 5)
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
def test_w_scale_sets_every_singular_value_and_the_gates_start_as_in_the_rnn_lab(cell):
    """W orthogonal times w_scale per gate; the keep gates get the RNN lab's chrono initialisation: b_U + b_W =
    log u, u in [1, T - 1], and the LSTM input gate the opposite."""
    run = gt.GradientRun(cell=cell, gap=30, hidden_size=8, w_scale=1.5)
    model = gt.build_model(run)
    for block in model.body.weights(0)["W"].split(8):
        torch.testing.assert_close(torch.linalg.svdvals(block.detach()), torch.full((8,), 1.5), rtol=1e-5, atol=1e-5)
    keep = model.body.keep_gate_bias()
    assert keep.min() >= 0 and keep.max() <= math.log(30) + 1e-6
    if cell == "lstm":
        w = model.body.weights(0)
        torch.testing.assert_close((w["b_U"] + w["b_W"]).detach()[:8], -keep)


def test_the_page_states_the_keep_gate_biases_its_models_start_with():
    from models.labs.gradients.pretrain import COMPARISON, initial_keep_biases

    run = replace(COMPARISON, gap=80)
    low, high = initial_keep_biases(run)
    bias = gt.build_model(replace(run, cell="lstm")).body.keep_gate_bias()
    assert (low, high) == (float(bias.min()), float(bias.max()))
    assert 0 <= low < high <= math.log(80)


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
    path = profile["forget_path"]  # prod of the forget gates from step k + 1 to the last: grows towards the end
    assert path[-1] == 1 and (np.diff(path) >= 0).all() and path[0] > 0


def test_the_shipped_comparison_makes_the_lectures_point():
    """Averaged over its seeds, LSTM and GRU recall at every gap; the vanilla RNN learns the short gap from every
    seed and the longest from fewer than half of them."""
    from models.core.pretrain import ASSETS
    from models.labs.gradients.pretrain import COMPARISON_FILE, solved_runs, solved_summary

    data = json.loads((ASSETS / COMPARISON_FILE).read_text())
    mean = {cell: np.asarray(runs).mean(axis=1) for cell, runs in data["accuracy"].items()}
    assert (mean["lstm"] >= 0.9).all() and (mean["gru"] >= 0.9).all(), mean
    rnn, seeds = solved_runs(data, "rnn"), len(data["seeds"])
    assert rnn[0] == seeds and 2 * rnn[-1] < seeds, rnn
    assert f"vanilla RNN {seeds} of {seeds} at gap 5, {rnn[-1]} of {seeds} at gap 120" in solved_summary(data)


@pytest.mark.slow
def test_the_lstm_learns_gap_40_with_the_comparisons_recipe():
    from models.labs.gradients.pretrain import COMPARISON

    run = replace(COMPARISON, cell="lstm", gap=40)
    trainer = gt.build_trainer(run, device="cpu")
    trainer.run()
    assert gt.evaluate(trainer.model, run) >= 0.9
