"""Figures for the segmentation lab: the lecture's four panels, attention, gates, receptive fields, scores."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from viz.style import SEQUENTIAL, finish

OUTCOME_COLOURS = {"correct": "#1b9e77", "false positive": "#d62728", "miss": "#1f77b4"}
# Attention over the image: transparent where the weight is low (the image shows), opaque yellow where it is high.
ATTENTION_OVERLAY = [[0.0, "rgba(255,140,0,0)"], [0.25, "rgba(255,140,0,0.15)"], [1.0, "rgba(255,255,0,0.95)"]]
MODEL_COLOURS = {
    "U-Net": "#7f7f7f",
    "Attention U-Net": "#e6a000",
    "U-Transformer": "#6a3d9a",
    "U-Transformer (MHSA only)": "#cab2d6",
    "TransUNet": "#1f78b4",
    "SETR-PUP": "#33a02c",
    "SETR-MLA": "#b2df8a",
    "SETR-naive": "#b15928",
    "Swin-UNet": "#e31a1c",
    "GLAM-Swin-UNet": "#fb9a99",
}
CLASS_COLOURS = ("#1b9e77", "#7570b3", "#e7298a", "#66a61e")  # foreground classes 1, 2, ... of a ground truth


def _gray(image: np.ndarray) -> go.Heatmap:
    return go.Heatmap(z=image, colorscale="gray", zmin=0, zmax=1, showscale=False, hoverinfo="skip")


def outcome_map(prediction: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Per pixel: 0 correct foreground, 1 false positive (foreground predicted, another class true), 2 miss
    (background predicted on foreground), NaN background (drawn transparent). Class 0 is the background."""
    outcome = np.full(truth.shape, np.nan)
    outcome[(prediction > 0) & (prediction == truth)] = 0
    outcome[(prediction > 0) & (prediction != truth)] = 1
    outcome[(prediction == 0) & (truth > 0)] = 2
    return outcome


def _outcome_layer(outcome: np.ndarray, opacity: float) -> go.Heatmap:
    colours = list(OUTCOME_COLOURS.values())
    scale = [
        [0.0, colours[0]],
        [0.33, colours[0]],
        [0.34, colours[1]],
        [0.66, colours[1]],
        [0.67, colours[2]],
        [1, colours[2]],
    ]
    return go.Heatmap(z=outcome, zmin=0, zmax=2, colorscale=scale, showscale=False, opacity=opacity, hoverinfo="skip")


def _pixel_marker(pixel: tuple[int, int]) -> go.Scatter:
    """A cyan cross on the picked pixel (row, col)."""
    marker = {"symbol": "x", "size": 11, "color": "cyan", "line": {"width": 2}}
    return go.Scatter(x=[pixel[1]], y=[pixel[0]], mode="markers", showlegend=False, hoverinfo="skip", marker=marker)


def _legend(fig: go.Figure) -> None:
    for name, colour in OUTCOME_COLOURS.items():
        fig.add_trace(
            go.Scatter(
                x=[None], y=[None], mode="markers", marker={"color": colour, "size": 12, "symbol": "square"}, name=name
            )
        )


def _image_axes(fig: go.Figure, size: tuple[int, int], n: int) -> None:
    for i in range(1, n + 1):
        fig.update_xaxes(range=[-0.5, size[1] - 0.5], showticklabels=False, row=1, col=i)
        fig.update_yaxes(
            range=[size[0] - 0.5, -0.5], showticklabels=False, scaleanchor=f"x{i if i > 1 else ''}", row=1, col=i
        )


def four_panels(
    image: np.ndarray,
    truth: np.ndarray | None,
    attention: np.ndarray | None,
    predictions: dict[str, np.ndarray],
    pixel: tuple[int, int],
    opacity: float = 0.55,
    title: str = "Ground truth | attention map | U-Net | U-Transformer",
) -> go.Figure:
    """The lecture's slide: ground truth, the bottleneck attention of ``pixel``, then each model's mask.

    Predictions are coloured by outcome: correct foreground, false positive, miss. Without a ground
    truth (an uploaded image) the predicted foreground is drawn in the "correct" colour.
    """
    names = list(predictions)
    first = "Ground truth" if truth is not None else "Image (no ground truth)"
    titles = [first, "Attention (head mean)", *names]
    fig = make_subplots(rows=1, cols=2 + len(names), subplot_titles=titles, horizontal_spacing=0.02)
    fig.add_trace(_gray(image), row=1, col=1)
    if truth is not None:
        fig.add_trace(_outcome_layer(np.where(truth == 1, 0.0, np.nan), opacity), row=1, col=1)
    fig.add_trace(_gray(image), row=1, col=2)
    if attention is not None:
        fig.add_trace(
            go.Heatmap(
                z=attention,
                zmin=0,
                colorscale=ATTENTION_OVERLAY,
                colorbar={"title": {"text": "attention<br>weight"}, "len": 0.8, "x": 1.02},
                hovertemplate="row %{y}, col %{x}: %{z:.4f}<extra></extra>",
            ),
            row=1,
            col=2,
        )
    for i, name in enumerate(names, start=3):
        fig.add_trace(_gray(image), row=1, col=i)
        reference = truth if truth is not None else predictions[name]
        fig.add_trace(_outcome_layer(outcome_map(predictions[name], reference), opacity), row=1, col=i)
    for i in range(1, 3 + len(names)):
        fig.add_trace(_pixel_marker(pixel), row=1, col=i)
    if truth is not None:
        _legend(fig)
    _image_axes(fig, image.shape, 2 + len(names))
    finish(fig, title, height=400)
    fig.update_layout(legend={"y": -0.02, "yanchor": "top", "x": 0.5, "xanchor": "center"})
    return fig


def head_attention(maps: np.ndarray, image: np.ndarray, pixel: tuple[int, int]) -> go.Figure:
    """Each head's bottleneck attention for the picked pixel and their mean, upsampled over the image."""
    heads = maps.shape[0]
    titles = [f"head {h + 1}" for h in range(heads)] + ["mean over heads"]
    fig = make_subplots(rows=1, cols=heads + 1, subplot_titles=titles, horizontal_spacing=0.02)
    zmax = float(max(maps.max(), 1e-12))
    for i, layer in enumerate([*maps, maps.mean(0)], start=1):
        fig.add_trace(_gray(image), row=1, col=i)
        fig.add_trace(
            go.Heatmap(
                z=layer,
                zmin=0,
                zmax=zmax,
                colorscale=ATTENTION_OVERLAY,
                showscale=i == 1,
                colorbar={"title": {"text": "attention<br>weight"}, "len": 0.8},
                hovertemplate="row %{y}, col %{x}: %{z:.4f}<extra></extra>",
            ),
            row=1,
            col=i,
        )
        fig.add_trace(_pixel_marker(pixel), row=1, col=i)
    _image_axes(fig, image.shape, heads + 1)
    return finish(fig, f"Bottleneck self-attention of pixel (row {pixel[0]}, col {pixel[1]}), per head", height=300)


def gate_figure(gates: dict[int, np.ndarray], title: str) -> go.Figure:
    """Skip-connection gates per level (mean over channels), each on its own range, stated in its title: a gate
    near 0.5 everywhere would otherwise read as a flat square."""
    if not gates:
        fig = go.Figure()
        fig.add_annotation(text="this model has no skip-connection gates", showarrow=False, x=0.5, y=0.5)
        return finish(fig, title, height=260)
    levels = list(gates)
    titles = [
        f"level {level}: {g.shape[0]}x{g.shape[1]}, gate {g.min():.2f} to {g.max():.2f}" for level, g in gates.items()
    ]
    fig = make_subplots(rows=1, cols=len(levels), subplot_titles=titles, horizontal_spacing=0.08)
    for i, level in enumerate(levels, start=1):
        fig.add_trace(
            go.Heatmap(
                z=gates[level],
                colorscale=SEQUENTIAL,
                colorbar={"title": {"text": "gate"}, "x": i / len(levels) - 0.02, "len": 0.8, "thickness": 10},
                hovertemplate="row %{y}, col %{x}: %{z:.3f}<extra></extra>",
            ),
            row=1,
            col=i,
        )
        fig.update_yaxes(autorange="reversed", scaleanchor=f"x{i if i > 1 else ''}", row=1, col=i)
    return finish(fig, title, "column", "row", height=320)


def receptive_field_figure(
    image: np.ndarray,
    saliency: np.ndarray,
    pixel: tuple[int, int],
    rf_size: int,
    title: str,
    log_range: tuple[float, float] | None = None,
) -> go.Figure:
    """Effective RF (|gradient|, log scale) with the theoretical RF: its square and its radius circle.

    ``log_range`` (log10 of the smallest and largest value shown) puts several figures on one colour scale;
    by default four decades below this figure's largest value."""
    positive = saliency[saliency > 0]
    top = float(np.log10(positive.max())) if positive.size else -12.0
    low, high = log_range or (top - 4, top)
    floor = 10.0**low
    log_saliency = np.log10(np.maximum(saliency, floor))
    fig = go.Figure(_gray(image))
    fig.add_trace(
        go.Heatmap(
            z=np.where(saliency > floor, log_saliency, np.nan),
            colorscale="Inferno",
            zmin=low,
            zmax=high,
            opacity=0.75,
            colorbar={"title": {"text": "log10 |d logit / d x|"}},
            hovertemplate="row %{y}, col %{x}: 10^%{z:.2f}<extra></extra>",
        )
    )
    r, c = pixel
    half = rf_size / 2
    fig.add_shape(type="rect", x0=c - half, x1=c + half, y0=r - half, y1=r + half, line={"color": "cyan", "width": 2})
    fig.add_shape(
        type="circle", x0=c - half, x1=c + half, y0=r - half, y1=r + half, line={"color": "cyan", "dash": "dot"}
    )
    fig.add_trace(
        go.Scatter(x=[c], y=[r], mode="markers", marker={"symbol": "x", "color": "cyan", "size": 10}, name="pixel")
    )
    fig.add_trace(
        go.Scatter(x=[None], y=[None], mode="lines", line={"color": "cyan"}, name=f"theoretical RF {rf_size} px")
    )
    h, w = image.shape
    fig.update_xaxes(range=[-0.5, w - 0.5])
    fig.update_yaxes(range=[h - 0.5, -0.5], scaleanchor="x")
    return finish(fig, title, "column", "row", height=420)


def accuracy_vs_distance(
    results: dict[str, tuple[np.ndarray, np.ndarray]], rf_radius: float, bin_width: float = 5.0
) -> go.Figure:
    """Object accuracy per distance bin (centre to the deciding evidence), one line per model; chance is 0.5."""
    all_d = np.concatenate([d for d, _ in results.values()]) if results else np.zeros(1)
    edges = np.arange(np.floor(all_d.min() / bin_width) * bin_width, all_d.max() + bin_width, bin_width)
    fig = go.Figure()
    for name, (distances, correct) in results.items():
        idx = np.digitize(distances, edges) - 1
        centres, accuracy, counts = [], [], []
        for b in range(len(edges) - 1):
            chosen = idx == b
            if chosen.sum():
                centres.append((edges[b] + edges[b + 1]) / 2)
                accuracy.append(correct[chosen].mean())
                counts.append(int(chosen.sum()))
        fig.add_trace(
            go.Scatter(
                x=centres,
                y=accuracy,
                mode="lines+markers",
                name=name,
                customdata=counts,
                line={"color": MODEL_COLOURS.get(name)},
                hovertemplate="%{x:.0f} px: accuracy %{y:.2f} (%{customdata} objects)<extra></extra>",
            )
        )
    fig.add_vline(
        x=rf_radius,
        line_dash="dash",
        annotation_text=f"U-Net RF radius {rf_radius:g} px",
        annotation_position="top left",
    )
    fig.add_hline(
        y=0.5, line_dash="dot", line_color="gray", annotation_text="chance", annotation_position="bottom right"
    )
    fig.update_yaxes(range=[0, 1.05])
    return finish(
        fig,
        "Object accuracy against distance to the deciding evidence",
        "distance from object centre to the key (px)",
        "fraction of objects labelled correctly",
        height=380,
    )


def dice_bars(scores: dict[str, float], title: str, local_optimum: float | None = 2 / 3) -> go.Figure:
    """Validation Dice per model, with the best score a model blind to the key can reach."""
    names = list(scores)
    fig = go.Figure(
        go.Bar(
            x=names,
            y=[scores[n] for n in names],
            text=[f"{scores[n]:.3f}" for n in names],
            textposition="outside",
            marker_color=[MODEL_COLOURS.get(n, "#444") for n in names],
        )
    )
    if local_optimum is not None:
        fig.add_hline(
            y=local_optimum,
            line_dash="dot",
            annotation_text="segment every blob: 2/3",
            annotation_position="bottom left",
        )
    fig.update_yaxes(range=[0, 1.15])
    return finish(fig, title, "model", "Dice on the validation set", height=360)


def _class_layer(truth: np.ndarray, opacity: float) -> go.Heatmap:
    """The ground truth's foreground classes 1, 2, ... in :data:`CLASS_COLOURS`; the background transparent."""
    n = max(int(truth.max()), 1)
    scale = []
    for c in range(n):
        colour = CLASS_COLOURS[c % len(CLASS_COLOURS)]
        scale += [[c / n, colour], [(c + 1) / n, colour]]
    z = np.where(truth > 0, truth - 0.5, np.nan)  # class c drawn in the band (c - 1, c)
    return go.Heatmap(z=z, zmin=0, zmax=n, colorscale=scale, showscale=False, opacity=opacity, hoverinfo="skip")


def _attention_layer(attention: np.ndarray, show_scale: bool, zmax: float, colorbar: dict) -> go.Heatmap:
    return go.Heatmap(
        z=attention,
        zmin=0,
        zmax=zmax,
        colorscale=ATTENTION_OVERLAY,
        showscale=show_scale,
        colorbar={"title": {"text": "attention<br>weight"}, **colorbar},
        hovertemplate="row %{y}, col %{x}: %{z:.4f}<extra></extra>",
    )


NO_ATTENTION = "no attention:<br>convolutions<br>only"
ONE_ROW_MODELS = 3  # up to this many models the panels form the slide's one row; more: one column per model
PLOT_WIDTH = 1000  # px: about what a stretched chart leaves for its panels on a laptop or a 1280 px projector


def _blank_panel(fig: go.Figure, size: tuple[int, int], row: int, col: int) -> None:
    """A light, framed, empty panel saying that this model has no attention map to draw."""
    fig.add_shape(
        type="rect",
        x0=-0.5,
        x1=size[1] - 0.5,
        y0=-0.5,
        y1=size[0] - 0.5,
        fillcolor="#f0f2f6",
        line={"color": "#a3a8b8", "dash": "dot"},
        row=row,
        col=col,
    )
    fig.add_annotation(
        text=NO_ATTENTION,
        showarrow=False,
        font={"color": "#31333f"},
        x=size[1] / 2,
        y=size[0] / 2,
        row=row,
        col=col,
    )


def _stacked(label: str) -> str:
    """A model label on two lines where it has a parenthesis (narrow panels would make titles collide)."""
    return label.replace(" (", "<br>(")


def side_by_side(
    image: np.ndarray,
    truth: np.ndarray,
    models: dict[str, tuple[np.ndarray, np.ndarray | None]],
    pixel: tuple[int, int],
    opacity: float = 0.55,
    title: str = "Ground truth, each model's attention and prediction on the same image",
) -> go.Figure:
    """The lecture's panels for several architectures: the ground truth, each model's attention of the picked
    ``pixel`` (head mean, upsampled, all on one colour scale; a blank, labelled panel where the model has none), then
    each model's prediction coloured by outcome. ``models``: {label: (prediction (H, W), attention (H, W) or None)}.

    Up to :data:`ONE_ROW_MODELS` models everything is one row, as on the slide (ground truth | attention | U-Net |
    U-Transformer); with more, one column per model, attention above prediction, the image beside the predictions."""
    names = list(models)
    n = len(names)
    one_row = n <= ONE_ROW_MODELS
    rows, cols = (1, 1 + 2 * n) if one_row else (2, 1 + n)
    attention_at = [(1, 2 + i) for i in range(n)]
    prediction_at = [(1, 2 + n + i) if one_row else (2, 2 + i) for i in range(n)]
    titles = {(1, 1): "Ground truth"}
    for name, at, pred_at in zip(names, attention_at, prediction_at, strict=True):
        titles[at] = f"{_stacked(name)}<br>attention"
        titles[pred_at] = f"{_stacked(name)}<br>prediction" if one_row else "prediction"
    if not one_row:
        titles[2, 1] = "Image"
    lines = max(t.count("<br>") + 1 for t in titles.values())
    top, bottom = 48 + 30 * lines, 60  # room for the figure title and the titles at presenter font sizes
    panel = min(PLOT_WIDTH / cols, 300)
    gap = 0 if one_row else 0.2  # of the plot's height: the second row's one-line titles, also at presenter size
    fig = make_subplots(
        rows=rows,
        cols=cols,
        subplot_titles=[titles.get((r, c), "") for r in range(1, rows + 1) for c in range(1, cols + 1)],
        horizontal_spacing=0.012,
        vertical_spacing=gap,
    )
    fig.add_trace(_gray(image), row=1, col=1)
    fig.add_trace(_class_layer(truth, opacity), row=1, col=1)
    maps = [attention for _, attention in models.values() if attention is not None]
    zmax = float(max((m.max() for m in maps), default=1.0)) or 1.0  # one colour scale for every model's attention
    colorbar = {"len": 1.0} if one_row else {"len": 0.5, "y": 1.0, "yanchor": "top"}
    drawn = [(1, 1)]
    if not one_row:
        fig.add_trace(_gray(image), row=2, col=1)
        drawn.append((2, 1))
    first_attention = True
    for (prediction, attention), at, pred_at in zip(models.values(), attention_at, prediction_at, strict=True):
        if attention is None:
            _blank_panel(fig, image.shape, *at)
        else:
            fig.add_trace(_gray(image), row=at[0], col=at[1])
            fig.add_trace(_attention_layer(attention, first_attention, zmax, colorbar), row=at[0], col=at[1])
            first_attention = False
            drawn.append(at)
        fig.add_trace(_gray(image), row=pred_at[0], col=pred_at[1])
        fig.add_trace(_outcome_layer(outcome_map(prediction, truth), opacity), row=pred_at[0], col=pred_at[1])
        drawn.append(pred_at)
    for row, col in drawn:
        fig.add_trace(_pixel_marker(pixel), row=row, col=col)
    for row in range(1, rows + 1):
        for col in range(1, cols + 1):
            axis = (row - 1) * cols + col
            fig.update_xaxes(range=[-0.5, image.shape[1] - 0.5], visible=False, row=row, col=col)
            fig.update_yaxes(
                range=[image.shape[0] - 0.5, -0.5],
                visible=False,
                scaleanchor=f"x{axis if axis > 1 else ''}",
                row=row,
                col=col,
            )
    _legend(fig)
    finish(fig, title, height=round(top + bottom + rows * panel / (1 - gap)))
    fig.update_layout(
        title={"y": 1.0, "yref": "container", "yanchor": "top", "pad": {"t": 8}},
        margin={"l": 30, "r": 20, "t": top, "b": bottom},
        legend={"orientation": "h", "y": -0.02, "yanchor": "top", "x": 0.5, "xanchor": "center"},
    )
    return fig
