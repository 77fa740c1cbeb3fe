import numpy as np
import plotly.graph_objects as go

from models.data.ct_slices import SegmentationTask, generate_sample
from viz.segmentation import (
    accuracy_vs_distance,
    dice_bars,
    four_panels,
    gate_figure,
    head_attention,
    outcome_map,
    receptive_field_figure,
    side_by_side,
)

SAMPLE = generate_sample(SegmentationTask(), 0, 0)


def _heatmaps(fig: go.Figure) -> list[go.Heatmap]:
    return [t for t in fig.data if isinstance(t, go.Heatmap)]


def test_outcome_map_colours_false_positives_and_misses():
    truth = np.array([[1, 1, 0, 0]])
    pred = np.array([[1, 0, 1, 0]])
    outcome = outcome_map(pred, truth)
    np.testing.assert_array_equal(outcome[0, :3], [0, 2, 1])
    assert np.isnan(outcome[0, 3])


def test_four_panels_has_the_slides_panels_and_outcomes():
    attention = np.random.default_rng(0).random((64, 64))
    predictions = {"U-Net": (SAMPLE.image > 0.5).astype(int), "U-Transformer": SAMPLE.mask}
    fig = four_panels(SAMPLE.image, SAMPLE.mask, attention, predictions, (10, 20), opacity=0.4)
    titles = [a.text for a in fig.layout.annotations]
    assert titles[0] == "Ground truth" and titles[2:] == ["U-Net", "U-Transformer"]
    assert "Ground truth" in fig.layout.title.text
    heatmaps = _heatmaps(fig)
    assert len(heatmaps) == 2 + 2 + 2 * 2
    attention_layer = next(h for h in heatmaps if h.colorbar.title.text)
    assert "attention" in attention_layer.colorbar.title.text
    low, high = attention_layer.colorscale[0][1], attention_layer.colorscale[-1][1]
    assert low.endswith(",0)") and high.startswith("rgba(255,255,0")  # low weights transparent, high ones bright
    ut_outcome = heatmaps[-1].z
    assert np.nanmax(ut_outcome) == 0, "a perfect prediction has no false positive and no miss"
    assert {t.name for t in fig.data if isinstance(t, go.Scatter) and t.name} == {"correct", "false positive", "miss"}


def test_four_panels_without_ground_truth():
    fig = four_panels(SAMPLE.image, None, None, {"U-Net": SAMPLE.mask}, (0, 0))
    assert fig.layout.annotations[0].text == "Image (no ground truth)"
    assert not any(t.name == "miss" for t in fig.data)


def test_head_attention_draws_each_head_and_the_mean_on_one_scale():
    maps = np.random.default_rng(1).random((4, 64, 64))
    fig = head_attention(maps, SAMPLE.image, (5, 6))
    attention = [h for h in _heatmaps(fig) if h.zmax == maps.max()]  # the gray image layers have zmax 1
    assert len(attention) == 5
    np.testing.assert_allclose(attention[-1].z, maps.mean(0))
    assert [a.text for a in fig.layout.annotations][-1] == "mean over heads"


def test_gate_figure_per_level_and_empty_message():
    gates = {1: np.full((32, 32), 0.25), 2: np.full((16, 16), 0.75)}
    fig = gate_figure(gates, "gates")
    assert [h.z.shape for h in _heatmaps(fig)] == [(32, 32), (16, 16)]
    titles = [a.text for a in fig.layout.annotations]
    assert "level 1: 32x32, gate 0.25 to 0.25" in titles and "level 2: 16x16, gate 0.75 to 0.75" in titles
    assert "no skip-connection gates" in gate_figure({}, "none").layout.annotations[0].text


def test_receptive_field_figure_log_scale_with_square_and_circle():
    saliency = np.zeros((64, 64))
    saliency[20:40, 20:40] = np.logspace(-6, 0, 400).reshape(20, 20)
    fig = receptive_field_figure(SAMPLE.image, saliency, (30, 30), 52, "erf")
    assert {s.type for s in fig.layout.shapes} == {"rect", "circle"}
    rect = next(s for s in fig.layout.shapes if s.type == "rect")
    assert rect.x1 - rect.x0 == 52
    layer = _heatmaps(fig)[1]
    assert "log10" in layer.colorbar.title.text
    assert np.nanmax(layer.z) == 0 and np.nanmin(layer.z) >= -4


def test_accuracy_vs_distance_bins_and_marks_the_receptive_field():
    distances = np.array([12, 14, 22, 24, 41, 43])
    correct = np.array([1, 1, 0, 1, 0, 0], dtype=bool)
    fig = accuracy_vs_distance({"U-Net": (distances, correct)}, rf_radius=26, bin_width=10)
    line = fig.data[0]
    np.testing.assert_allclose(line.y, [1.0, 0.5, 0.0])
    np.testing.assert_allclose(line.x, [15, 25, 45])
    assert fig.layout.shapes[0].x0 == 26
    assert fig.layout.xaxis.title.text and fig.layout.yaxis.title.text


def test_dice_bars_with_local_optimum_line():
    fig = dice_bars({"U-Net": 0.66, "U-Transformer": 0.98}, "dice")
    assert list(fig.data[0].y) == [0.66, 0.98]
    assert fig.layout.shapes[0].y0 == 2 / 3


def _titles(fig: go.Figure) -> list[str]:
    return [a.text for a in fig.layout.annotations if a.yref == "paper"]


def test_side_by_side_is_the_slides_one_row_with_a_blank_panel_for_a_model_without_attention():
    attention = np.random.default_rng(2).random((64, 64))
    models = {"U-Net": (SAMPLE.mask, None), "U-Transformer (MHSA only)": (SAMPLE.mask, attention)}
    fig = side_by_side(SAMPLE.image, SAMPLE.mask, models, (10, 20))
    assert _titles(fig) == [
        "Ground truth",
        "U-Net<br>attention",
        "U-Transformer<br>(MHSA only)<br>attention",
        "U-Net<br>prediction",
        "U-Transformer<br>(MHSA only)<br>prediction",
    ]
    domains = {fig.layout[f"yaxis{i if i > 1 else ''}"].domain for i in range(1, 6)}
    assert domains == {(0.0, 1.0)}, "one row: no title sits over another panel"
    assert fig.layout.margin.t >= 50 + 28 * 3, "three-line titles fit under the figure title"
    blank = [a for a in fig.layout.annotations if a.xref == "x2"]
    assert len(blank) == 1 and "no attention" in blank[0].text and blank[0].font.color == "#31333f"
    assert [s.xref for s in fig.layout.shapes] == ["x2"]  # the blank panel's frame, no image under the note
    assert not [t for t in fig.data if getattr(t, "xaxis", None) == "x2"]
    scale = [h for h in _heatmaps(fig) if h.showscale]
    assert len(scale) == 1 and "attention" in scale[0].colorbar.title.text


def test_side_by_side_puts_many_models_in_columns_with_predictions_below():
    models = {name: (SAMPLE.mask, None) for name in ("U-Net", "TransUNet", "SETR-PUP", "Swin-UNet")}
    fig = side_by_side(SAMPLE.image, SAMPLE.mask, models, (10, 20))
    titles = _titles(fig)
    assert titles[:5] == ["Ground truth", *[f"{n}<br>attention" for n in models]]
    assert titles[5:] == ["Image", *["prediction"] * 4]
    top, bottom = fig.layout.yaxis.domain, fig.layout.yaxis6.domain
    assert bottom[1] < top[0] - 0.15, "the second row's titles have room between the rows"
