"""The high-resolution lab's figures: the right panels and traces, data drawn as given, titled axes, no NaN where a
value is expected, the refusal of full attention shown."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import pytest

from models.labs.highres import analysis
from viz import highres as figures


def _heatmaps(fig: go.Figure) -> list[go.Heatmap]:
    return [t for t in fig.data if isinstance(t, go.Heatmap)]


def _assert_axes_titled(fig: go.Figure) -> None:
    layout = fig.layout.to_plotly_json()
    axes = [name for name in layout if name.startswith(("xaxis", "yaxis"))]
    assert axes
    for name in axes:
        assert layout[name].get("title", {}).get("text"), f"{name} has no title"


def test_window_figure_draws_the_slides_two_layers_the_regions_and_the_mask():
    layout = analysis.window_layout(8, 4, (7, 1))
    fig = figures.window_figure(layout, (7, 1), 4)
    titles = [a.text for a in fig.layout.annotations]
    assert titles[0].startswith("layer l: W-MSA") and titles[1].startswith("layer l+1: SW-MSA")
    assert [t for t in titles if t in {str(i) for i in range(9)}] == [str(i) for i in range(9)]  # nine regions
    mask = next(h for h in _heatmaps(fig) if h.zmin == -100)
    np.testing.assert_array_equal(mask.z, layout.mask)
    assert (layout.mask == -100).any(), "the picked corner token's window mixes regions"
    attended = [t for t in fig.data if isinstance(t, go.Scatter) and t.name == "attended at layer l+1"][0]
    np.testing.assert_array_equal(sorted(zip(attended.y, attended.x, strict=True)), np.argwhere(layout.allowed))
    assert [fig.layout[f"xaxis{i}"].title.text for i in ("", 2, 3, 4)] == ["token column"] * 3 + ["key in window"]
    _assert_axes_titled(fig)


def test_reach_figures_one_panel_per_mechanism_and_one_curve_each():
    maps = {name: analysis.reach_maps(name, 16, 3, (0, 0)) for name in ("window", "shifted", "glam", "full")}
    fig = figures.reach_figure({k: r.maps[-1] for k, r in maps.items()}, (0, 0), 3)
    shares = [f"{r.maps[-1].sum() / 256:.0%}" for r in maps.values()]
    assert [a.text for a in fig.layout.annotations] == [
        f"{label}: {share}"
        for label, share in zip(("W-MSA", "W-MSA + SW-MSA", "GLAM", "full MSA"), shares, strict=True)
    ]
    np.testing.assert_array_equal(_heatmaps(fig)[1].z, maps["shifted"].maps[-1].astype(float))
    _assert_axes_titled(fig)
    curves = figures.reach_share_figure({k: r.shares for k, r in maps.items()}, 2)
    np.testing.assert_allclose(curves.data[1].y, maps["shifted"].shares)
    assert list(curves.data[0].x) == [1, 2, 3]
    _assert_axes_titled(curves)


def test_accuracy_vs_reach_has_the_bound_and_a_point_per_model():
    points = {"W-MSA": ("window", 0.06, 0.5), "W-MSA + SW-MSA, depth 4": ("shifted", 0.39, 0.69)}
    fig = figures.accuracy_vs_reach_figure(points, "t")
    bound = fig.data[0]
    assert list(bound.x) == [0, 1] and list(bound.y) == [0.5, 1.0]
    assert [(t.name, t.x[0], t.y[0], t.marker.symbol) for t in fig.data[1:]] == [
        ("W-MSA", 0.06, 0.5, "circle"),
        ("W-MSA + SW-MSA, depth 4", 0.39, 0.69, "diamond"),
    ]
    _assert_axes_titled(fig)


def test_key_use_figure_colours_reading_blind_and_wrong_tokens():
    use = np.ones((4, 4))
    use[0, 0] = np.nan
    use[2, 1], use[3, 3] = 0.5, 0.0
    fig = figures.key_use_figure({"window": use, "full": np.nan_to_num(use, nan=1)}, (0, 0))
    assert fig.layout.annotations[0].text == f"W-MSA<br>{13 / 15:.0%} read the key"
    heat = _heatmaps(fig)[0]
    assert np.isnan(heat.z[0][0]) and heat.zmin == 0 and heat.zmax == 1
    legend = [t.name for t in fig.data if isinstance(t, go.Scatter) and t.name and t.name != "key"]
    assert legend == list(figures.KEY_USE_LEGEND)
    _assert_axes_titled(fig)


def test_cost_figure_stops_full_attention_where_it_is_refused():
    spec = analysis.CostSpec("full", 8)
    formula = analysis.cost_table([8, 16, 32, 64], spec, 1, 16 * 2**20, measure=False)
    measured = analysis.cost_table([8], spec, 1, 16 * 2**20, repeats=1)
    fig = figures.cost_figure(formula, measured)
    full = [t for t in fig.data if t.name == "full MSA"]
    refused = next(n for n in (8, 16, 32, 64) if spec.n_heads * n**4 * 4 > 16 * 2**20)  # the matrix alone
    kept = [n * n for n in (8, 16, 32, 64) if n < refused]
    assert [list(t.x) for t in full] == [kept, [64], kept]
    assert list(full[0].y) == [p.formula for p in formula if p.mechanism == "full" and p.refused is None]
    notes = [a.text for a in fig.layout.annotations if "refused" in a.text]
    assert notes == [f"full MSA refused at {refused**2:,} tokens ({spec.n_heads * refused**4 * 4 // 2**20} MB)"]
    assert all(np.isfinite(t.y).all() for t in fig.data)
    _assert_axes_titled(fig)


def test_unet_memory_bars_add_up_to_the_total():
    memory = analysis.unet_memory((64, 64, 32))
    fig = figures.unet_memory_figure(memory, (64, 64, 32))
    total = sum(sum(t.y) for t in fig.data)
    assert total == pytest.approx(memory.activation_gib)
    assert list(fig.data[0].x) == ["level 0: 64x64x32", "level 1: 32x32x16", "level 2: 16x16x8", "level 3: 8x8x4"]
    _assert_axes_titled(fig)


def test_glam_figures_show_each_global_token_and_g_msa():
    from models.labs.highres.models import HighResConfig, HighResModel

    model = HighResModel(HighResConfig("glam", 8, 2, 4, n_global=2))
    tokens, _, _ = analysis.example_map(8, 0)
    maps = analysis.glam_maps(model, tokens, (1, 2))
    fig = figures.glam_window_figure(maps, 1, 0, 8)
    assert len(_heatmaps(fig)) == 2
    assert fig.layout.annotations[0].text == f"global token 1 (the token reads it: {maps.token_to_global[1, 0, 0]:.2f})"
    _assert_axes_titled(fig)
    matrix = figures.glam_global_figure(maps, 0, 1, 2)
    np.testing.assert_allclose(matrix.data[0].z, maps.global_attention[0, 1])
    assert matrix.layout.shapes[0].y0 == maps.windows[0] * 2 - 0.5
    _assert_axes_titled(matrix)


def test_crop_walk_figure_outlines_this_and_the_earlier_crops():
    walk = analysis.fine_walk(16, 8, 4)
    positions = [s.position for s in walk]
    fig = figures.crop_walk_figure(walk[2], positions, 8, 2)
    rects = [s for s in fig.layout.shapes if s.type == "rect"]
    assert len(rects) == 3 and rects[-1].line.dash == "solid"
    assert (rects[-1].x0, rects[-1].y0) == (positions[2][1] - 0.5, positions[2][0] - 0.5)
    evidence = _heatmaps(fig)[0]
    assert evidence.zmax == 0 and np.nanmin(evidence.z) >= np.log10(figures.EVIDENCE_FLOOR)
    _assert_axes_titled(fig)


def test_nnformer_figures_one_panel_per_stage_and_both_costs():
    stages = analysis.nnformer_stages(32, 4, 4, 32)
    fig = figures.nnformer_figure(stages)
    titles = [a.text for a in fig.layout.annotations]
    assert titles == [
        "32x32, C=32: 64 windows",
        "16x16, C=64: 16 windows",
        "8x8, C=128: 4 windows",
        "4x4, C=256: global",
    ]
    _assert_axes_titled(fig)
    costs = figures.stage_cost_figure(stages)
    assert list(costs.data[0].y) == [s.local_cost for s in stages] and list(costs.data[1].y) == [
        s.global_cost for s in stages
    ]
    _assert_axes_titled(costs)
