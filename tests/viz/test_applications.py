"""RNN applications lab figures: the right traces and shapes, titled axes, no NaN, the data drawn as given."""

import numpy as np
import pytest

from tests.viz.checks import assert_axes_titled, assert_finite
from viz import applications as V

RNG = np.random.default_rng(0)
SYMBOLS = ".abcdefghijklmnopqrstuvwxyz"


def test_the_mappings_diagram_draws_inputs_states_and_outputs_of_each_mapping():
    fig = V.mappings_diagram()
    assert_axes_titled(fig)
    titles = [a.text for a in fig.layout.annotations if a.text]
    assert [t.split("<br>")[0] for t in titles] == ["One-to-many", "Many-to-one", "Many-to-many", "Synced many-to-many"]
    colours = [shape.fillcolor for shape in fig.layout.shapes]
    expected = sum(len(i) + sum(i) + sum(o) for _, i, o in V.MAPPINGS.values())  # a state per step, x_t and y_t boxes
    assert len(colours) == expected
    _, inputs, outputs = V.MAPPINGS["one_to_many"]
    assert sum(inputs) == 1 and sum(outputs) == len(outputs)


def test_next_letter_bars_show_the_distribution_and_mark_the_drawn_letter():
    p = RNG.dirichlet(np.ones(27))
    fig = V.next_letter_bars(p, SYMBOLS, drawn=4, title="step 2")
    (bar,) = fig.data
    np.testing.assert_allclose(bar.y, p)
    assert list(bar.x)[0] == "end ." and list(bar.x)[4] == "d"
    assert bar.marker.color[4] != bar.marker.color[0]
    assert_axes_titled(fig)
    assert_finite(fig)


def test_word_losses_group_one_bar_series_per_model():
    losses = {"LSTM": RNG.uniform(0, 3, 5), "bigram": RNG.uniform(0, 3, 5)}
    fig = V.word_losses(list("deep."), losses, "deep")
    assert [t.name for t in fig.data] == ["LSTM", "bigram"] and fig.layout.barmode == "group"
    assert list(fig.data[0].x) == ["1: d", "2: e", "3: e", "4: p", "5: end ."]
    np.testing.assert_allclose(fig.data[1].y, losses["bigram"])
    assert_axes_titled(fig)


def test_value_bars_write_each_value_and_fit_the_range():
    fig = V.value_bars({"LSTM": 6.3, "bigram": 11.8, "uniform": 27.0}, "Perplexity", "perplexity")
    (bar,) = fig.data
    assert list(bar.text) == ["6.30", "11.80", "27.00"]
    assert fig.layout.yaxis.range[1] > 27.0
    assert_axes_titled(fig)


def test_accuracy_by_length_draws_one_line_per_model_in_length_order():
    scores = {"plain": {3: 0.5, 1: 1.0, 2: 0.9}, "attention": {1: 1.0, 2: 1.0, 3: 1.0}}
    fig = V.accuracy_by_length(scores, "bottleneck", trained_up_to=3)
    assert [t.name for t in fig.data] == ["plain", "attention"]
    assert list(fig.data[0].x) == [1, 2, 3] and list(fig.data[0].y) == [1.0, 0.9, 0.5]
    assert_axes_titled(fig)


def test_the_attention_matrix_has_outputs_as_rows_and_input_characters_as_columns():
    matrix = RNG.dirichlet(np.ones(7), size=3)
    fig = V.attention_matrix(matrix, list("one two"), ["1", "2", "$"], "attention")
    (heat,) = fig.data
    assert np.asarray(heat.z).shape == (3, 7) and len(heat.x) == 7 and len(heat.y) == 3
    assert "input character" in fig.layout.xaxis.title.text and "output" in fig.layout.yaxis.title.text
    assert_finite(fig)


def test_frame_panels_show_each_frame_in_its_own_square_panel():
    panels = {"frame 1": np.zeros((16, 16)), "truth": np.eye(16), "model": RNG.uniform(size=(16, 16))}
    fig = V.frame_panels(panels, "frames")
    assert len(fig.data) == 3 and all(np.asarray(t.z).shape == (16, 16) for t in fig.data)
    assert [a.text for a in fig.layout.annotations] == list(panels)
    assert fig.layout.yaxis.scaleanchor == "x"
    assert_axes_titled(fig)


def test_state_maps_draw_hidden_and_cell_maps_of_every_channel():
    hidden, cell = np.tanh(RNG.normal(size=(3, 5, 5))), RNG.normal(size=(3, 5, 5)) * 4
    fig = V.state_maps(hidden, cell, "states")
    assert len(fig.data) == 6
    np.testing.assert_allclose(fig.data[1].z, cell[0])  # channel 1: H_t then C_t
    assert fig.data[0].zmax == 1.0 and fig.data[1].zmax == pytest.approx(np.abs(cell).max())
    assert fig.layout.title.text and fig.layout.yaxis.title.text == "H_t"
    bottom = [fig.layout[f"xaxis{3 + k + 1}"].title.text for k in range(3)]  # row 2's x axes name the channels
    assert bottom == ["channel 1", "channel 2", "channel 3"]
    assert_finite(fig)


def test_the_phase_timeline_draws_the_truth_and_each_prediction_over_the_frames():
    truth = np.array([0, 0, 1, 1, 2])
    fig = V.phase_timeline(truth, {"ConvLSTM": truth, "CNN": np.zeros(5, dtype=int)}, ("a", "b", "c"), "phases")
    assert [t.name for t in fig.data] == ["truth", "ConvLSTM", "CNN"]
    assert list(fig.data[0].x) == [1, 2, 3, 4, 5] and list(fig.data[0].y) == truth.tolist()
    assert list(fig.layout.yaxis.ticktext) == ["a", "b", "c"]
    assert_axes_titled(fig)
