"""Figures of the attention lab: the right traces, shapes, titles and scales, no NaN."""

from __future__ import annotations

import numpy as np

from viz.attention import (
    annotated_matrix,
    attention_grid,
    attention_heatmap,
    mean_and_rollout_figure,
    quadratic_cost_figure,
    query_attention_figure,
)

RNG = np.random.default_rng(0)


def _softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _heatmaps(fig):
    return [t for t in fig.data if t.type == "heatmap"]


def test_annotated_matrix_shows_shape_values_and_centred_scale():
    matrix = RNG.normal(size=(3, 4))
    fig = annotated_matrix(matrix, "Q", ["a", "b", "c"], ["d0", "d1", "d2", "d3"])
    assert "(3 x 4)" in fig.layout.title.text
    (heat,) = _heatmaps(fig)
    assert np.asarray(heat.z).shape == (3, 4)
    assert heat.zmin == -heat.zmax and heat.zmid == 0.0
    assert heat.colorbar.title.text
    attention = annotated_matrix(_softmax(matrix), "A", signed=False)
    assert attention.data[0].zmin == 0.0


def test_attention_grid_has_one_map_per_layer_and_head():
    attentions = _softmax(RNG.normal(size=(2, 3, 5, 5)))
    fig = attention_grid(attentions, list("abcde"), "grid")
    heat = _heatmaps(fig)
    assert len(heat) == 6
    assert sum(bool(h.showscale) for h in heat) == 1
    assert all(np.isfinite(np.asarray(h.z)).all() for h in heat)
    assert fig.layout.annotations[5].text == "layer 2, head 3"
    # repeated tokens keep distinct axis labels
    assert len(set(attention_grid(attentions, list("aaaaa"), "g").data[0].x)) == 5


def test_query_mean_rollout_and_enlarged_head():
    attentions = _softmax(RNG.normal(size=(2, 2, 4, 4)))
    query = query_attention_figure(attentions, list("wxyz"), 2)
    assert np.allclose(np.asarray(query.data[0].z), attentions[:, :, 2, :].reshape(4, 4))
    rollout = mean_and_rollout_figure(attentions.mean(1), np.eye(4), list("wxyz"))
    assert len(_heatmaps(rollout)) == 3
    big = attention_heatmap(attentions[0, 0], list("wxyz"), "head")
    assert big.layout.xaxis.title.text == "key token" and big.layout.yaxis.title.text == "query token"


def test_cost_figure_is_log_log_and_marks_n():
    fig = quadratic_cost_figure(6, 4)
    assert fig.layout.xaxis.type == "log" and fig.layout.yaxis.type == "log"
    marker = [t for t in fig.data if t.mode == "markers+text"][0]
    assert list(marker.x) == [6] and list(marker.y) == [36]


def test_token_attribution_figure_signs_and_bars():
    from viz.attention import token_attribution_figure

    attribution = np.array([0.5, -0.2, 0.0, 1.0])
    fig = token_attribution_figure(list("abcd"), np.full(4, 0.25), np.full(4, 0.25), attribution, 1)
    bars = [t for t in fig.data if t.type == "bar"]
    assert len(bars) == 3
    assert list(bars[2].marker.color)[:2] == ["#b2182b", "#2166ac"]
    assert "position 1" in fig.layout.title.text


def test_repeated_tokens_keep_their_own_rows_and_the_title_states_the_shape():
    from viz.attention import annotated_matrix

    words = ["the", "cat", "sat", "on", "the", "mat"]
    fig = annotated_matrix(np.eye(6), "A", words, words)
    heat = fig.data[0]
    assert len(set(heat.y)) == len(set(heat.x)) == 6 and np.asarray(heat.z).shape == (6, 6)
    assert heat.y[0] == "1: the" and heat.y[4] == "5: the" and "(6 x 6)" in fig.layout.title.text
    assert list(annotated_matrix(np.eye(2), "B", ["a", "b"], ["a", "b"]).data[0].y) == ["a", "b"]


def test_multi_head_figure_draws_each_head_and_the_concatenation_through_w_o():
    from types import SimpleNamespace

    from viz.attention import multi_head_figure

    view = SimpleNamespace(
        attention=RNG.random((2, 5, 5)),
        head_outputs=RNG.normal(size=(2, 5, 4)),
        concatenated=RNG.normal(size=(5, 8)),
        W_o=RNG.normal(size=(8, 8)),
        output=RNG.normal(size=(5, 8)),
        d_head=4,
    )
    fig = multi_head_figure(view, list("abcde"), 1)
    assert len(fig.data) == 2 * 2 + 3
    titles = [a.text for a in fig.layout.annotations]
    assert "A of head 2" in titles and "W_o (8 x 8)" in titles and "layer 2" in fig.layout.title.text


def test_typed_tokens_are_escaped_for_plotly_in_every_label():
    from viz.style import position_labels

    assert position_labels(["<b>x</b>", "a&b"]) == ["1: &lt;b&gt;x&lt;/b&gt;", "2: a&amp;b"]
