"""RNN lab figures: the right traces and shapes, titles, axis and colour-bar titles, no NaN."""

import numpy as np
import plotly.graph_objects as go
import pytest

from tests.viz.checks import assert_finite
from viz import rnn as V

RNG = np.random.default_rng(0)
TOKENS = list("deep")


def _titled(fig: go.Figure) -> str:
    title = fig.layout.title.text
    assert title
    return title


def test_hidden_heatmap_is_units_by_time_centred_at_zero():
    h = np.tanh(RNG.normal(size=(4, 6)))
    fig = V.hidden_heatmap(h, TOKENS, "Hidden states")
    (trace,) = fig.data
    assert np.asarray(trace.z).shape == (6, 4)
    assert trace.zmin == -1 and trace.zmax == 1 and trace.zmid == 0
    assert list(trace.x) == ["1: d", "2: e", "3: e", "4: p"]
    assert trace.colorbar.title.text == "h_t"
    assert fig.layout.xaxis.title.text and fig.layout.yaxis.title.text
    _titled(fig)
    assert_finite(fig)


def test_cell_and_hidden_has_two_heatmaps_with_own_colour_bars():
    c, h = RNG.normal(size=(4, 3)) * 3, np.tanh(RNG.normal(size=(4, 3)))
    fig = V.cell_and_hidden(c, h, TOKENS, "LSTM")
    assert len(fig.data) == 2
    assert [t.colorbar.title.text for t in fig.data] == ["C_t", "h_t"]
    assert fig.data[0].zmax == pytest.approx(np.abs(c).max())


def test_gates_figure_one_panel_per_gate():
    gates = {name: RNG.uniform(size=(4, 3)) for name in ("input", "forget", "cell", "output")}
    fig = V.gates_figure(gates, TOKENS, "gates")
    assert len(fig.data) == 4
    assert [t.zmin for t in fig.data] == [0.0, 0.0, -1.0, 0.0]
    with pytest.raises(ValueError, match="no gates"):
        V.gates_figure({}, TOKENS, "none")


@pytest.mark.parametrize("dims", [2, 3])
def test_trajectories_one_line_per_input_legend_per_class(dims):
    points = RNG.normal(size=(3, 5, dims))
    fig = V.trajectory_figure(
        points,
        [5, 3, 4],
        ["noun", "verb", "noun"],
        ["a", "b", "c"],
        [list("abcde")] * 3,
        np.array([0.5, 0.3, 0.1]),
        "t",
    )
    assert len(fig.data) == 3
    assert [len(t.x) for t in fig.data] == [5, 3, 4]
    assert [t.showlegend for t in fig.data] == [True, True, False]
    assert fig.data[0].line.color == fig.data[2].line.color != fig.data[1].line.color
    kind = go.Scatter if dims == 2 else go.Scatter3d
    assert all(isinstance(t, kind) for t in fig.data)
    assert_finite(fig)


def test_predictions_and_attributions():
    probs = RNG.dirichlet(np.ones(4), size=4)
    fig = V.step_probabilities(probs, TOKENS, ["noun", "verb", "adjective", "adverb"], "steps")
    assert len(fig.data) == 4 and list(fig.data[2].y) == pytest.approx(probs[:, 2])
    bars = V.probability_bars(probs[-1], ["noun", "verb", "adjective", "adverb"], "p")
    assert list(bars.data[0].y) == pytest.approx(probs[-1])
    attr = np.array([0.5, -0.2, 0.1, 1.5])
    fig = V.attribution_bars(TOKENS, attr, "adjective", "IG")
    assert fig.data[0].marker.cmin == -1.5 and fig.data[0].marker.cmax == 1.5
    assert fig.data[0].marker.colorbar.title.text == "attribution"
    reg = V.step_regression(np.zeros(4), np.ones(4), TOKENS, "sum")
    assert [t.name for t in reg.data] == ["target", "prediction y_t"]


def test_lesson_bars_group_before_and_after_per_class():
    before, after = np.array([0.7, 0.26, 0.04, 0.0]), np.array([0.25, 0.19, 0.55, 0.01])
    fig = V.lesson_bars(before, after, ["noun", "verb", "adjective", "adverb"], "deep")
    assert [t.name for t in fig.data] == ["before the lesson", "after the lesson"]
    assert list(fig.data[1].y) == pytest.approx(after) and fig.layout.barmode == "group"
    assert fig.layout.xaxis.title.text and fig.layout.yaxis.title.text
    assert _titled(fig) == "deep"


def test_comparison_curves_two_traces_per_cell():
    curves = {
        cell: {"step": np.arange(1, 6.0), "loss": np.linspace(1, 0.1, 5), "accuracy": np.linspace(0.2, 1, 5)}
        for cell in ("rnn", "lstm", "gru")
    }
    fig = V.comparison_curves(curves, "cmp", target=0.95)
    assert len(fig.data) == 6
    assert fig.layout.yaxis.type == "log"
    assert {t.name for t in fig.data} == {"vanilla RNN", "LSTM", "GRU"}
    _titled(fig)
