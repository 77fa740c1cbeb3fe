"""Figures for the high-resolution attention lab: Swin's windows, shifted windows, nine regions and mask drawn over
the token grid; reach maps and reach against depth; accuracy against reach; cost, formula beside measurement; the
3D U-Net's memory; GLAM's global tokens; FINE's crop walk; nnFormer's stages."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from models.labs.highres.analysis import CostPoint, CropStep, GlamMaps, StageView, UNetMemory, WindowLayout
from models.labs.highres.models import LABELS
from viz.style import SEQUENTIAL, finish, square_cells

PALETTE = ["#cfe2f3", "#fce5cd", "#d9ead3", "#ead1dc", "#fff2cc", "#d0e0e3", "#f4cccc", "#d9d2e9", "#e6e6e6"]
MECHANISM_COLOURS = {
    "window": "#7f7f7f",
    "shifted": "#1f77b4",
    "glam": "#2ca02c",
    "full": "#d62728",
    "deformable": "#9467bd",
}
MASK_SCALE = [[0.0, "#b2182b"], [1.0, "#f7f7f7"]]  # -100 dark red, 0 white
KEY_USE_LEGEND = {
    "right with both keys: reads the key": "#1b9e77",
    "right with one key only: blind to it": "#d9d9d9",
    "wrong with both keys": "#d62728",
}
KEY_USE_SCALE = [
    [0.0, "#d62728"],
    [0.33, "#d62728"],
    [0.34, "#d9d9d9"],
    [0.66, "#d9d9d9"],
    [0.67, "#1b9e77"],
    [1.0, "#1b9e77"],
]
EVIDENCE_FLOOR = 1e-6  # the reach threshold: below it, drawn as "no dependence"


def _categories(labels: np.ndarray) -> go.Heatmap:
    """A partition of the grid as pastel areas, one colour per label (colours repeat every nine labels)."""
    _, ids = np.unique(labels, return_inverse=True)
    z = ids.reshape(labels.shape) % len(PALETTE)
    scale = [[i / (len(PALETTE) - 1), colour] for i, colour in enumerate(PALETTE)]
    return go.Heatmap(z=z, zmin=0, zmax=len(PALETTE) - 1, colorscale=scale, showscale=False, hoverinfo="skip")


def _borders(labels: np.ndarray, colour: str = "black", width: float = 2.5) -> go.Scatter:
    """Lines between neighbouring cells of different labels (the windows' or regions' borders)."""
    xs, ys = [], []
    rows, cols = labels.shape
    for r in range(rows):
        for c in range(cols):
            if c + 1 < cols and labels[r, c] != labels[r, c + 1]:
                xs += [c + 0.5, c + 0.5, None]
                ys += [r - 0.5, r + 0.5, None]
            if r + 1 < rows and labels[r, c] != labels[r + 1, c]:
                xs += [c - 0.5, c + 0.5, None]
                ys += [r + 0.5, r + 0.5, None]
    line = {"color": colour, "width": width}
    return go.Scatter(x=xs, y=ys, mode="lines", line=line, showlegend=False, hoverinfo="skip")


def _cells(mask: np.ndarray, colour: str, symbol: str = "circle", size: int = 6, name: str | None = None):
    rows, cols = np.nonzero(mask)
    marker = {"symbol": symbol, "size": size, "color": colour}
    return go.Scatter(x=cols, y=rows, mode="markers", marker=marker, name=name, showlegend=name is not None)


def _token(token: tuple[int, int], name: str | None = None) -> go.Scatter:
    marker = {"symbol": "x", "size": 13, "color": "black", "line": {"width": 2}}
    return go.Scatter(x=[token[1]], y=[token[0]], mode="markers", marker=marker, name=name, showlegend=bool(name))


def _grid_axes(fig: go.Figure, n_panels: int, size: tuple[int, int], row: int = 1) -> None:
    """Square cells, row 0 at the top, titled axes, for ``n_panels`` grid panels in ``row``."""
    for col in range(1, n_panels + 1):
        fig.update_xaxes(range=[-0.5, size[1] - 0.5], title_text="token column", row=row, col=col)
        fig.update_yaxes(range=[size[0] - 0.5, -0.5], title_text="token row", row=row, col=col)
    square_cells(fig)


def window_figure(layout: WindowLayout, token: tuple[int, int], window_size: int) -> go.Figure:
    """Swin's figure and its implementation: layer l's M x M windows, layer l+1's windows shifted by s (the slide's
    irregular windows), the map rolled by (-s, -s) with its nine regions and windows, and the -100 mask of the
    picked token's window of the rolled map."""
    n, m, s = layout.windows.shape[0], window_size, layout.shift
    rolled_token = ((token[0] - s) % n, (token[1] - s) % n)
    in_window = (rolled_token[0] % m) * m + rolled_token[1] % m
    titles = (
        f"layer l: W-MSA<br>{(n // m) ** 2} windows of {m}x{m}",
        f"layer l+1: SW-MSA<br>windows shifted by s = {s}",
        f"rolled by (-{s}, -{s})<br>9 regions, {(n // m) ** 2} windows",
        f"mask of rolled window {layout.window}<br>-100 across regions",
    )
    fig = make_subplots(rows=1, cols=4, subplot_titles=titles, horizontal_spacing=0.07)
    fig.add_trace(_categories(layout.windows), row=1, col=1)
    fig.add_trace(_borders(layout.windows), row=1, col=1)
    fig.add_trace(_cells(layout.windows == layout.windows[token], "#1f5fbf", name="attended at layer l"), row=1, col=1)
    fig.add_trace(_categories(layout.groups), row=1, col=2)
    fig.add_trace(_borders(layout.groups), row=1, col=2)
    fig.add_trace(_cells(layout.allowed, "#d95f02", name="attended at layer l+1"), row=1, col=2)
    rolled_windows = np.roll(layout.shifted_windows, (-s, -s), axis=(0, 1))
    fig.add_trace(_categories(layout.rolled_regions), row=1, col=3)
    fig.add_trace(_borders(rolled_windows), row=1, col=3)
    fig.add_trace(_borders(layout.rolled_regions, "#555555", 1.0), row=1, col=3)
    for label in range(9):
        rows, cols = np.nonzero(layout.rolled_regions == label)
        if rows.size:
            fig.add_annotation(x=cols.mean(), y=rows.mean(), text=str(label), showarrow=False, row=1, col=3)
    for col, where in ((1, token), (2, token), (3, rolled_token)):
        fig.add_trace(_token(where, "picked token" if col == 1 else None), row=1, col=col)
    fig.add_trace(
        go.Heatmap(
            z=layout.mask,
            zmin=-100,
            zmax=0,
            colorscale=MASK_SCALE,
            colorbar={"title": {"text": "mask"}, "x": 1.02, "len": 0.8},
            hovertemplate="query %{y}, key %{x}: %{z:.0f}<extra></extra>",
        ),
        row=1,
        col=4,
    )
    fig.add_hline(y=in_window, line_color="#d95f02", line_width=2, row=1, col=4)
    _grid_axes(fig, 3, (n, n))
    fig.update_xaxes(range=[-0.5, m * m - 0.5], title_text="key in window", row=1, col=4)
    fig.update_yaxes(range=[m * m - 0.5, -0.5], title_text="query in window", row=1, col=4)
    finish(
        fig, f"Swin's windows on a {n}x{n} token map, M = {m}: the picked token (x) and what it attends to", height=460
    )
    fig.update_layout(margin={"t": 115}, title={"y": 0.99, "yanchor": "top"})  # room for two-line panel titles
    return _legend_below(fig)


def reach_figure(maps: dict[str, np.ndarray], token: tuple[int, int], depth: int) -> go.Figure:
    """What ``token`` can influence after ``depth`` blocks, one panel per mechanism ({name: (n, n) bool})."""
    titles = [f"{LABELS[name]}: {maps[name].mean():.0%}" for name in maps]
    fig = make_subplots(rows=1, cols=len(maps), subplot_titles=titles, horizontal_spacing=0.04)
    for col, (name, reached) in enumerate(maps.items(), start=1):
        scale = [[0.0, "#f2f2f2"], [1.0, MECHANISM_COLOURS[name]]]
        heat = go.Heatmap(z=reached.astype(float), zmin=0, zmax=1, colorscale=scale, showscale=False)
        fig.add_trace(heat.update(hovertemplate="row %{y}, col %{x}: %{z}<extra></extra>"), row=1, col=col)
        fig.add_trace(_token(token), row=1, col=col)
    _grid_axes(fig, len(maps), next(iter(maps.values())).shape)
    return finish(fig, f"What token {token} can influence after L = {depth} blocks (coloured: reached)", height=360)


def reach_share_figure(curves: dict[str, np.ndarray], depth: int) -> go.Figure:
    """The share of the map a token reaches against the number of blocks L, one curve per mechanism."""
    fig = go.Figure()
    for name, shares in curves.items():
        blocks = np.arange(1, len(shares) + 1)
        line = {"color": MECHANISM_COLOURS[name]}
        fig.add_trace(go.Scatter(x=blocks, y=shares, mode="lines+markers", name=LABELS[name], line=line))
    fig.add_vline(x=depth, line_dash="dot", line_color="grey", annotation_text=f"L = {depth}")
    fig.update_yaxes(range=[0, 1.05], tickformat=".0%")
    return finish(fig, "Reach against depth", "blocks L", "share of the map reached", height=360)


def accuracy_vs_reach_figure(points: dict[str, tuple[str, float, float]], title: str) -> go.Figure:
    """Test accuracy against the share of the map the key reaches ({label: (mechanism, reach, accuracy)}), with the
    bound 1/2 + 1/2 x reach that a token blind to the key allows."""
    fig = go.Figure()
    line = {"dash": "dash", "color": "grey"}
    fig.add_trace(go.Scatter(x=[0, 1], y=[0.5, 1.0], mode="lines", name="bound: 1/2 + 1/2 x reach", line=line))
    for label, (mechanism, reach, accuracy) in points.items():
        symbol = "circle" if label == LABELS[mechanism] else "diamond"
        marker = {"size": 14, "color": MECHANISM_COLOURS[mechanism], "symbol": symbol}
        fig.add_trace(go.Scatter(x=[reach], y=[accuracy], mode="markers", marker=marker, name=label))
    fig.update_xaxes(range=[-0.02, 1.05], tickformat=".0%")
    fig.update_yaxes(range=[0.4, 1.05], tickformat=".0%")
    finish(fig, title, "share of the map the corner key reaches", "test accuracy", height=420)
    return _legend_below(fig)


def _legend_below(fig: go.Figure) -> go.Figure:
    """The legend at the figure's bottom edge, under the axis titles whatever the figure's height."""
    fig.update_layout(
        legend={"yref": "container", "y": 0.0, "yanchor": "bottom", "x": 0.5, "xanchor": "center"},
        margin={"b": 100},
    )
    return fig


def key_use_figure(use: dict[str, np.ndarray], key_cell: tuple[int, int]) -> go.Figure:
    """One test map answered by each model with either key ({name: (n, n)}): 1 right with both keys (the token
    reads the key), 0.5 right with one only (it answers blind to the key), 0 wrong with both; the key cell marked."""
    titles = [f"{LABELS[name]}<br>{np.sum(u == 1) / np.sum(~np.isnan(u)):.0%} read the key" for name, u in use.items()]
    fig = make_subplots(rows=1, cols=len(use), subplot_titles=titles, horizontal_spacing=0.04)
    for col, values in enumerate(use.values(), start=1):
        heat = go.Heatmap(z=values, zmin=0, zmax=1, colorscale=KEY_USE_SCALE, showscale=False, hoverinfo="skip")
        fig.add_trace(heat, row=1, col=col)
        fig.add_trace(_token(key_cell, "key" if col == 1 else None), row=1, col=col)
    for name, colour in KEY_USE_LEGEND.items():
        marker = {"color": colour, "size": 12, "symbol": "square"}
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", marker=marker, name=name))
    _grid_axes(fig, len(use), next(iter(use.values())).shape)
    finish(fig, "One test map with either key: which tokens read the key", height=410)
    fig.update_layout(margin={"t": 100}, title={"y": 0.99, "yanchor": "top"})
    return _legend_below(fig)


def cost_figure(formula: Sequence[CostPoint], measured: Sequence[CostPoint]) -> go.Figure:
    """Per mechanism against the number of tokens hw: the formula's multiply-adds and the attention weights'
    megabytes (``formula``), the measured milliseconds of a block, forward + backward (``measured``); full
    attention refused where it stops."""
    titles = ("formula: multiply-adds of one layer", "measured: ms per block (fwd + bwd)", "attention weights (MB)")
    fig = make_subplots(rows=1, cols=3, subplot_titles=titles, horizontal_spacing=0.08)
    for name in dict.fromkeys(p.mechanism for p in formula):
        line = {"color": MECHANISM_COLOURS[name]}
        counted = [p for p in formula if p.mechanism == name and p.refused is None]
        timed = [p for p in measured if p.mechanism == name and p.milliseconds is not None]
        tokens = [p.n_tokens for p in counted]
        series = (
            (1, tokens, [p.formula for p in counted]),
            (2, [p.n_tokens for p in timed], [p.milliseconds for p in timed]),
            (3, tokens, [p.attention_bytes / 2**20 for p in counted]),
        )
        for col, x, y in series:
            trace = go.Scatter(x=x, y=y, mode="lines+markers", name=LABELS[name], legendgroup=name, line=line)
            fig.add_trace(trace.update(showlegend=col == 1), row=1, col=col)
    for p in formula:
        if p.refused is not None:
            note = f"full MSA refused at {p.n_tokens:,} tokens ({p.attention_bytes / 2**20:,.0f} MB)"
            fig.add_annotation(text=note, x=0.5, y=1.0, xref="x3 domain", yref="y3 domain", showarrow=False)
    for col, y_title in ((1, "multiply-adds (log)"), (2, "milliseconds (log)"), (3, "megabytes (log)")):
        fig.update_xaxes(type="log", title_text="tokens hw (log)", row=1, col=col)
        fig.update_yaxes(type="log", title_text=y_title, row=1, col=col)
    return _legend_below(finish(fig, "O(N^2) against windows: the formula beside the measurement", height=420))


def unet_memory_figure(memory: UNetMemory, shape: Sequence[int]) -> go.Figure:
    """The activations a 3D U-Net keeps for backward, stacked by tensor at each level, in GiB."""
    fig = go.Figure()
    scale = memory.batch * memory.bytes_per_value / 2**30
    names = list(dict.fromkeys(t.name for t in memory.tensors))
    levels = sorted({t.level for t in memory.tensors})
    ticks = [f"level {lv}: {'x'.join(str(s >> lv) for s in shape)}" for lv in levels]
    for name in names:
        sizes = [
            sum(t.channels * t.voxels for t in memory.tensors if t.name == name and t.level == lv) for lv in levels
        ]
        fig.add_trace(go.Bar(x=ticks, y=[scale * v for v in sizes], name=name))
    fig.update_layout(barmode="stack")
    title = f"{'x'.join(map(str, shape))}: {memory.activation_gib:,.1f} GiB of activations for one training step"
    return finish(fig, title, "U-Net level (voxels per side)", "GiB", height=380)


def glam_window_figure(maps: GlamMaps, block: int, head: int, n: int, max_tokens: int = 4) -> go.Figure:
    """Each global token of the picked token's window at ``block``: its attention over the window's tokens drawn on
    the map; the titles give how much the picked token reads from it."""
    g = min(maps.global_to_window.shape[2], max_tokens)
    reads = maps.token_to_global[block, head]
    titles = [f"global token {k + 1} (the token reads it: {reads[k]:.2f})" for k in range(g)]
    fig = make_subplots(rows=1, cols=g, subplot_titles=titles, horizontal_spacing=0.05)
    top = float(maps.global_to_window[block, head, :g].max()) or 1.0
    for k in range(g):
        weights = maps.global_to_window[block, head, k]
        heat = go.Heatmap(
            z=np.where(weights > 0, weights, np.nan),
            zmin=0,
            zmax=top,
            colorscale=SEQUENTIAL,
            showscale=k == g - 1,
            colorbar={"title": {"text": "weight"}},
            hovertemplate="row %{y}, col %{x}: %{z:.3f}<extra></extra>",
        )
        fig.add_trace(heat, row=1, col=k + 1)
        fig.add_trace(_token(maps.token), row=1, col=k + 1)
    _grid_axes(fig, g, (n, n))
    title = f"Block {block + 1}, head {head + 1}: what each global token of window {maps.windows[block]} reads"
    return finish(fig, title, height=360)


def glam_global_figure(maps: GlamMaps, block: int, head: int, n_global: int) -> go.Figure:
    """G-MSA's weights among all windows' global tokens (rows: queries), the picked token's window outlined."""
    weights = maps.global_attention[block, head]
    labels = [f"w{i // n_global} g{i % n_global + 1}" for i in range(weights.shape[0])]
    fig = go.Figure(
        go.Heatmap(
            z=weights,
            x=labels,
            y=labels,
            colorscale=SEQUENTIAL,
            colorbar={"title": {"text": "weight"}},
            hovertemplate="%{y} reads %{x}: %{z:.3f}<extra></extra>",
        )
    )
    first = maps.windows[block] * n_global
    fig.add_shape(
        type="rect",
        x0=-0.5,
        x1=weights.shape[1] - 0.5,
        y0=first - 0.5,
        y1=first + n_global - 0.5,
        line={"color": "#d95f02", "width": 2},
    )
    fig.update_yaxes(autorange="reversed")
    title = f"G-MSA at block {block + 1}, head {head + 1}: every window's global tokens read every other's"
    return finish(fig, title, "key: global token (window w, token g)", "query: global token", height=420)


def crop_walk_figure(step: CropStep, positions: Sequence[tuple[int, int]], crop_size: int, index: int) -> go.Figure:
    """One crop of FINE's walk: the image tokens its output depends on (the crop solid, earlier crops dotted), the
    memory cells it reads and writes, and the cells visited so far."""
    titles = ("evidence: what this crop's output depends on", "memory cells read", "memory cells written", "visited")
    fig = make_subplots(rows=1, cols=4, subplot_titles=titles, horizontal_spacing=0.06)
    hover = "row %{y}, col %{x}: %{z:.3f}<extra></extra>"
    logs = np.log10(np.maximum(step.evidence.astype(float), EVIDENCE_FLOOR))
    evidence = go.Heatmap(z=logs, zmin=np.log10(EVIDENCE_FLOOR), zmax=0, colorscale=SEQUENTIAL, hovertemplate=hover)
    fig.add_trace(
        evidence.update(colorbar={"title": {"text": "log10<br>relative<br>gradient"}, "x": 1.02}), row=1, col=1
    )
    for i, (top, left) in enumerate(positions[: index + 1]):
        line = {"color": "#d95f02" if i == index else "white", "width": 3 if i == index else 1.5}
        line["dash"] = "solid" if i == index else "dot"
        fig.add_shape(
            type="rect",
            x0=left - 0.5,
            x1=left + crop_size - 0.5,
            y0=top - 0.5,
            y1=top + crop_size - 0.5,
            line=line,
            row=1,
            col=1,
        )
    for col, values in ((2, step.read), (3, step.write), (4, step.visited.astype(float))):
        heat = go.Heatmap(z=values, zmin=0, zmax=max(float(values.max()), 1e-9), colorscale="Blues", showscale=False)
        fig.add_trace(heat.update(hovertemplate=hover), row=1, col=col)
    size, grid = step.evidence.shape, step.visited.shape
    _grid_axes(fig, 1, size)
    for col in (2, 3, 4):
        fig.update_xaxes(range=[-0.5, grid[1] - 0.5], title_text="memory column", row=1, col=col)
        fig.update_yaxes(range=[grid[0] - 0.5, -0.5], title_text="memory row", row=1, col=col)
    square_cells(fig)
    title = f"Crop {index + 1} of {len(positions)} at (row {step.position[0]}, column {step.position[1]})"
    return finish(fig, title, height=360)


def nnformer_figure(stages: Sequence[StageView]) -> go.Figure:
    """nnFormer's encoder: each stage's map with its attention windows; where one window covers the map, the stage
    attends globally."""
    titles = [
        f"{s.resolution}x{s.resolution}, C={s.channels}: " + ("global" if s.is_global else f"{s.n_windows} windows")
        for s in stages
    ]
    fig = make_subplots(rows=1, cols=len(stages), subplot_titles=titles, horizontal_spacing=0.04)
    for col, stage in enumerate(stages, start=1):
        side = np.arange(stage.resolution) // stage.window
        windows = side[:, None] * (stage.resolution // stage.window) + side[None, :]
        fig.add_trace(_categories(windows), row=1, col=col)
        if not stage.is_global:
            fig.add_trace(_borders(windows, width=1.5), row=1, col=col)
        fig.update_xaxes(range=[-0.5, stage.resolution - 0.5], title_text="column", row=1, col=col)
        fig.update_yaxes(range=[stage.resolution - 0.5, -0.5], title_text="row", row=1, col=col)
    square_cells(fig)
    return finish(fig, "Local windows at high resolution, global attention where the map is small", height=340)


def stage_cost_figure(stages: Sequence[StageView]) -> go.Figure:
    """One attention layer per stage: Omega(W-MSA) against Omega(MSA), log scale."""
    names = [f"stage {i + 1}: {s.resolution}x{s.resolution}" for i, s in enumerate(stages)]
    fig = go.Figure()
    fig.add_trace(go.Bar(x=names, y=[s.local_cost for s in stages], name="windows: 4hwC^2 + 2M^2 hwC"))
    fig.add_trace(go.Bar(x=names, y=[s.global_cost for s in stages], name="full: 4hwC^2 + 2(hw)^2 C"))
    fig.update_yaxes(type="log")
    return finish(fig, "Cost of one attention layer per stage", "encoder stage", "multiply-adds (log)", height=340)
