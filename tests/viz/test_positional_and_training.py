"""Figures of the PE lab and the shared training curves: traces, shapes, titles, no NaN."""

import numpy as np
import plotly.graph_objects as go

from models.blocks.positional import positional_similarity, sinusoidal_encoding, sinusoidal_encoding_2d
from models.core.engine import MetricHistory, StepMetrics
from viz.positional import (
    cosine_similarity,
    encoding_2d_figure,
    encoding_heatmap,
    learned_vs_sinusoidal,
    offset_profile_figure,
    similarity_heatmap,
)
from viz.style import decimate, finish, presenter
from viz.training import history_curves, training_curves


def heatmaps(fig):
    return [trace for trace in fig.data if isinstance(trace, go.Heatmap)]


def assert_titled(fig):
    assert fig.layout.title.text
    for axis in (fig.layout.xaxis, fig.layout.yaxis):
        assert axis.title.text


def test_encoding_heatmap_shows_p_with_a_fixed_unit_scale():
    P = sinusoidal_encoding(50, 128).numpy()
    fig = encoding_heatmap(P, 10000.0)
    (heat,) = heatmaps(fig)
    assert np.asarray(heat.z).shape == (50, 128) and (heat.zmin, heat.zmax) == (-1, 1)
    assert "50 positions" in fig.layout.title.text and heat.colorbar.title.text
    assert_titled(fig)


def test_large_matrices_are_decimated_and_the_title_says_so():
    P = sinusoidal_encoding(2048, 1024)
    K = positional_similarity(P).numpy()
    fig = similarity_heatmap(K, "K", normalised=False)
    (heat,) = heatmaps(fig)
    assert max(np.asarray(heat.z).shape) <= 512
    assert "every 4th row" in fig.layout.title.text
    assert (heat.zmin, heat.zmax) == (K.min(), K.max())
    cosine = similarity_heatmap(K / 512, "K / (d/2)", normalised=True).data[0]
    assert (cosine.zmin, cosine.zmax) == (-1, 1)


def test_profile_figure_has_the_closed_form_and_one_line_per_start():
    profiles = {0: np.ones(5), 3: np.ones(5)}
    fig = offset_profile_figure(profiles, np.ones(5), normalised=True)
    assert [trace.name for trace in fig.data] == ["closed form: sum_k cos(w_k k)", "i = 0", "i = 3"]
    assert_titled(fig)


def test_learned_vs_sinusoidal_panels_use_cosine_similarity():
    learned = np.random.default_rng(0).normal(size=(24, 32))
    fig = learned_vs_sinusoidal(learned, sinusoidal_encoding(24, 32).numpy(), "learned")
    assert len(heatmaps(fig)) == 2
    z = np.asarray(heatmaps(fig)[0].z)
    np.testing.assert_allclose(np.diag(z), 1.0)
    np.testing.assert_allclose(z, cosine_similarity(learned))
    assert len(heatmaps(learned_vs_sinusoidal(None, sinusoidal_encoding(24, 32).numpy(), "x"))) == 1


def test_2d_figure_similarity_peaks_at_the_reference_pixel():
    P2 = sinusoidal_encoding_2d(8, 12, 32).numpy()
    fig = encoding_2d_figure(P2, (2, 5), [0, 16])
    similarity = np.asarray(heatmaps(fig)[0].z)
    assert similarity.shape == (8, 12)
    assert np.unravel_index(similarity.argmax(), similarity.shape) == (2, 5)
    assert similarity.max() == np.float64(1.0) or np.isclose(similarity.max(), 1.0)


def test_training_curves_log_loss_and_metric_axis():
    steps = np.arange(1, 11)
    fig = training_curves(steps, 1.0 / steps, steps / 10.0)
    assert [trace.name for trace in fig.data] == ["loss", "accuracy"]
    assert fig.layout.yaxis.type == "log" and fig.layout.yaxis2.title.text == "accuracy"
    right = fig.layout.yaxis2  # plotly.js would otherwise place its ticks at the log axis's (0.027, 0.124, ...)
    assert right.overlaying == "y" and right.tickmode == "auto" and right.showgrid is False
    for trace in fig.data:
        assert np.isfinite(np.asarray(trace.y, dtype=float)).all()


def test_training_curves_have_the_layout_finish_gives_every_figure():
    fig = training_curves(np.arange(1, 11), np.ones(10), np.ones(10) / 2, "accuracy", "a run")
    reference = finish(go.Figure(fig.data), "a run", x_title="optimizer step", height=360).layout
    for key in ("title", "height", "margin", "font", "legend"):
        assert fig.layout[key] == reference[key], key
    assert fig.layout.xaxis.title == reference.xaxis.title


def test_history_curves_draw_an_engine_run():
    history = MetricHistory(capacity=100)
    for step in range(1, 6):
        history.append(StepMetrics(step=step, loss=1.0 / step, grad_norm=1.0, metrics={"dice": step / 5}))
    fig = history_curves(history, "dice", "run", "Dice")
    assert [trace.name for trace in fig.data] == ["loss", "Dice"]
    np.testing.assert_array_equal(fig.data[0].x, np.arange(1, 6))
    np.testing.assert_allclose(fig.data[1].y, np.arange(1, 6) / 5)


def test_decimate_and_presenter_fonts():
    view, row_step, col_step = decimate(np.zeros((1000, 300)), max_cells=512)
    assert view.shape == (500, 300) and (row_step, col_step) == (2, 1)
    fig = training_curves(np.arange(3), np.ones(3))
    assert presenter(fig).layout.font.size > fig.layout.font.size
