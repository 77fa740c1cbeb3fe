"""The gradient lab's figures: right traces, titles, colour bars, overflow drawn as markers."""

import numpy as np

from models.labs.gradients import jacobians as g
from tests.viz.checks import assert_axes_titled
from viz import gradients as vg


def small_map(scale=1.2, act="tanh"):
    W, U, b = g.make_weights(8, 2, scale, seed=0)
    x = g.random_inputs(12, 2)
    return g.jacobian_norm_map(W, U, b, x, nonlinearity=act)


def test_heatmap_is_log10_centred_at_zero_and_blank_above_diagonal():
    jmap = small_map()
    fig = vg.jacobian_heatmap(jmap.norms, jmap.ks, "spectral", " note")
    heat = fig.data[0]
    z = np.array(heat.z, dtype=float)
    assert heat.zmid == 0 and heat.colorbar.title.text.startswith("log10")
    assert np.isnan(z[0, 1:]).all() and np.allclose(np.diag(z), 0)
    np.testing.assert_allclose(z[5, 2], np.log10(jmap.norms[5, 2]))
    assert "note" in assert_axes_titled(fig) and len(fig.data) == 1


def test_overflow_is_drawn_as_markers_not_nan_cells():
    norms = np.tril(np.ones((4, 4)))
    norms[3, 0] = np.inf
    norms[2, 0] = np.nan
    fig = vg.jacobian_heatmap(norms, np.arange(4))
    overflow = [t for t in fig.data if t.name == "overflow"]
    assert len(overflow) == 1 and sorted(overflow[0].y) == [2, 3]
    decay = vg.decay_figure(np.arange(4), np.array([1.0, 2.0, np.inf, np.inf]), 2.0, 2.0, "exploding")
    assert any("overflow" in (t.name or "") for t in decay.data)
    assert all(v is None or np.isfinite(v) for t in decay.data for v in (t.y if t.y is not None else ()))


def test_decay_figure_has_bound_and_names_the_regime():
    fig = vg.decay_figure(np.arange(5), 0.5 ** np.arange(5), 0.8, 0.5, "vanishing", last_step=0.5 ** np.arange(5))
    names = [t.name for t in fig.data]
    assert any("bound" in n for n in names) and len(fig.data) == 3
    bound = next(t for t in fig.data if "bound" in t.name)
    np.testing.assert_allclose(np.array(bound.y, dtype=float), 0.8 ** np.arange(5))
    assert "vanishing" in assert_axes_titled(fig) and fig.layout.yaxis.type == "log"


def test_eigenvalue_figure_draws_the_unit_circle_and_the_spectrum():
    W, _, _ = g.make_weights(6, 2, 1.0, init="orthogonal")
    fig = vg.eigenvalue_figure(g.eigenvalues(W), g.beta_w(W), 0.25)
    assert [t.name for t in fig.data][0] == "unit circle" and len(fig.data) == 3
    spectrum = fig.data[-1]
    np.testing.assert_allclose(np.hypot(spectrum.x, spectrum.y), 1.0, rtol=1e-6)
    assert "radius 1" in assert_axes_titled(fig)


def test_training_figures():
    steps = np.array([5, 10])
    matrix = np.array([[0.0, 0.1, 1.0], [0.0, 0.2, 2.0]])
    heat = vg.probe_heatmap(steps, matrix, window=2)
    assert "truncation" in assert_axes_titled(heat) and heat.data[0].colorbar.title.text
    history = vg.grad_norm_figure(np.arange(3), np.array([0.5, 5.0, 50.0]), clip_norm=1.0)
    assert any("threshold 1" in (t.name or "") for t in history.data) and "clipping" in assert_axes_titled(history)
    assert history.layout.shapes[0].y0 == 1.0
    cells = vg.cell_accuracy_figure(
        [5, 10], {"rnn": [[1.0, 0.5], [0.25, 0.25]], "lstm": [[1.0, 1.0], [1.0, 1.0]]}, 0.25
    )
    names = {t.name for t in cells.data}
    assert {"vanilla RNN (mean of 2 seeds)", "LSTM (mean of 2 seeds)"} <= names
    assert_axes_titled(cells)
    profile = vg.cell_profile_figure(
        {"lstm": {"lag": np.arange(3), "dh": np.ones(3), "dC": np.ones(3), "forget_path": np.ones(3)}}
    )
    assert len(profile.data) == 3 and assert_axes_titled(profile)


def test_the_explosion_is_drawn_up_to_the_overflow_and_marked():
    steps = np.arange(1, 6.0)
    norms = np.array([1.0, 10.0, 1e3, 1e6, np.inf])
    loss = np.array([1.4, 1.6, 30.0, 1e5, np.nan])
    fig = vg.grad_norm_figure(steps, norms, None, loss, previous=("previous run", steps, norms / 10))
    names = [t.name for t in fig.data]
    assert names[:3] == ["||grad|| before clipping", "loss", "previous run"]
    marker = fig.data[-1]
    assert list(marker.x) == [5.0] and "overflow at step 5" in marker.text[0] and marker.y[0] == 1e7
    assert fig.data[0].y[-1] is None and fig.layout.yaxis.type == "log"
