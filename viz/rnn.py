"""Figures of the RNN lab: hidden states, cell states, gates, PCA trajectories, predictions, attributions.

Inputs are numpy arrays (one example, one layer, one direction unless said otherwise); outputs are
plotly Figures.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from models.blocks.recurrent import CELL_LABELS
from viz.style import CELL_COLOURS, DIVERGING, SEQUENTIAL, finish, position_labels

CLASS_COLOURS = qualitative.D3


def _heatmap(matrix: np.ndarray, tokens: list[str], colourbar: str, zmin: float, zmax: float, **kwargs) -> go.Heatmap:
    """Units (rows) x time (columns) heatmap of a (T, H) matrix."""
    return go.Heatmap(
        z=matrix.T,
        x=position_labels(tokens),
        y=[f"unit {i}" for i in range(matrix.shape[1])],
        zmin=zmin,
        zmax=zmax,
        colorbar={"title": {"text": colourbar}},
        hovertemplate="step %{x}<br>%{y}<br>value %{z:.3f}<extra></extra>",
        **kwargs,
    )


def _bound(matrix: np.ndarray) -> float:
    finite = np.abs(matrix[np.isfinite(matrix)])
    return float(finite.max()) if finite.size and finite.max() > 0 else 1.0


def hidden_heatmap(h: np.ndarray, tokens: list[str], title: str, bounded: bool = True) -> go.Figure:
    """h_t of every unit over time ``(T, H)``; diverging scale centred at 0 (tanh keeps it in [-1, 1])."""
    limit = 1.0 if bounded else _bound(h)
    fig = go.Figure(_heatmap(h, tokens, "h_t", -limit, limit, colorscale=DIVERGING, zmid=0))
    return finish(fig, title, x_title="time step t: input token", y_title="hidden unit", height=380)


def cell_and_hidden(c: np.ndarray, h: np.ndarray, tokens: list[str], title: str) -> go.Figure:
    """LSTM cell state C_t (unbounded) next to hidden state h_t = o_t * tanh(C_t), both ``(T, H)``."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("cell state C_t", "hidden state h_t"), horizontal_spacing=0.12)
    limit = _bound(c)
    fig.add_trace(
        _heatmap(
            c, tokens, "C_t", -limit, limit, colorscale=DIVERGING, zmid=0, colorbar_x=0.44, colorbar_title_text="C_t"
        ),
        row=1,
        col=1,
    )
    fig.add_trace(_heatmap(h, tokens, "h_t", -1, 1, colorscale=DIVERGING, zmid=0), row=1, col=2)
    fig.update_xaxes(title_text="time step t: input token")
    fig.update_yaxes(title_text="hidden unit", col=1)
    return finish(fig, title, height=400)


GATE_TITLES = {
    "input": "input gate i_t",
    "forget": "forget gate f_t",
    "cell": "candidate C~_t",
    "output": "output gate o_t",
    "reset": "reset gate r_t",
    "update": "update gate z_t (the lecture's: h_t = (1 - z_t) h_{t-1} + z_t h~_t)",
    "new": "candidate h~_t as torch computes it: tanh(W_in x_t + b_in + r_t * (W_hn h_{t-1} + b_hn))",
    "lecture_new": "candidate as the slide writes it: tanh(W [r_t * h_{t-1}, x_t]), same weights",
}


def gates_figure(gates: dict[str, np.ndarray], tokens: list[str], title: str) -> go.Figure:
    """Every gate's activation over time, one heatmap per gate ``(T, H)``: sigmoids in [0, 1], candidates in [-1, 1]."""
    names = list(gates)
    if not names:
        raise ValueError("a vanilla RNN has no gates")
    fig = make_subplots(
        rows=len(names), cols=1, subplot_titles=[GATE_TITLES.get(n, n) for n in names], vertical_spacing=0.06
    )
    for row, name in enumerate(names, start=1):
        candidate = name in ("cell", "new", "lecture_new")
        y_mid = 1 - (row - 0.5) / len(names)
        bar = {"title": {"text": "value" if candidate else "gate"}, "len": 0.9 / len(names), "y": y_mid}
        trace = _heatmap(
            gates[name],
            tokens,
            "",
            -1.0 if candidate else 0.0,
            1.0,
            colorscale=DIVERGING if candidate else SEQUENTIAL,
            zmid=0 if candidate else None,
        )
        trace.colorbar = bar
        fig.add_trace(trace, row=row, col=1)
        fig.update_yaxes(title_text="unit", showticklabels=False, row=row, col=1)
    fig.update_xaxes(title_text="time step t: input token", row=len(names), col=1)
    return finish(fig, title, height=210 * len(names) + 80)


def trajectory_figure(
    points: np.ndarray,
    lengths: list[int],
    labels: list[str],
    names: list[str],
    tokens: list[list[str]],
    explained: np.ndarray,
    title: str,
) -> go.Figure:
    """Trajectories of h_t projected by PCA: ``points`` (N, T, 2 or 3), one line per input, coloured by class."""
    dims = points.shape[-1]
    if dims not in (2, 3):
        raise ValueError(f"trajectories are drawn in 2D or 3D, got {dims} components")
    fig = go.Figure()
    classes = list(dict.fromkeys(labels))
    shown: set[str] = set()
    for i, (n, label) in enumerate(zip(lengths, labels, strict=True)):
        p = points[i, :n]
        colour = CLASS_COLOURS[classes.index(label) % len(CLASS_COLOURS)]
        common = dict(
            mode="lines+markers+text",
            name=label,
            legendgroup=label,
            showlegend=label not in shown,
            text=[""] * (n - 1) + [names[i]],
            textposition="top center",
            customdata=np.array(tokens[i][:n])[:, None],
            line={"color": colour, "width": 2},
            marker={"size": [4] * (n - 1) + [10], "color": colour},
            hovertemplate=f"{names[i]}<br>step %{{pointNumber}}: %{{customdata[0]}}<extra>{label}</extra>",
        )
        shown.add(label)
        if dims == 2:
            fig.add_trace(go.Scatter(x=p[:, 0], y=p[:, 1], **common))
        else:
            fig.add_trace(go.Scatter3d(x=p[:, 0], y=p[:, 1], z=p[:, 2], **common))
    axis = [f"PC {k + 1} ({explained[k]:.0%} of variance)" for k in range(dims)]
    if dims == 3:
        fig.update_layout(scene={"xaxis_title": axis[0], "yaxis_title": axis[1], "zaxis_title": axis[2]})
        return finish(fig, title, height=520)
    return finish(fig, title, x_title=axis[0], y_title=axis[1], height=480)


def step_probabilities(probabilities: np.ndarray, tokens: list[str], classes: list[str], title: str) -> go.Figure:
    """The class probabilities read from h_t at every step ``(T, C)``, as lines."""
    fig = go.Figure()
    steps = position_labels(tokens)
    for k, name in enumerate(classes):
        colour = CLASS_COLOURS[k % len(CLASS_COLOURS)]
        fig.add_trace(go.Scatter(x=steps, y=probabilities[:, k], mode="lines+markers", name=name, line_color=colour))
    fig.update_yaxes(range=[0, 1])
    return finish(fig, title, x_title="time step t: input token", y_title="probability", height=340)


def step_regression(prediction: np.ndarray, target: np.ndarray, tokens: list[str], title: str) -> go.Figure:
    """Prediction y_t at every step next to the target (running sum)."""
    steps = position_labels(tokens)
    fig = go.Figure(
        [
            go.Scatter(x=steps, y=target, mode="lines+markers", name="target", line={"dash": "dash", "color": "black"}),
            go.Scatter(x=steps, y=prediction, mode="lines+markers", name="prediction y_t", line_color="#d95f02"),
        ]
    )
    return finish(fig, title, x_title="time step t: input x_t", y_title="value", height=340)


def probability_bars(probabilities: np.ndarray, classes: list[str], title: str) -> go.Figure:
    """Final class probabilities as bars."""
    colours = [CLASS_COLOURS[k % len(CLASS_COLOURS)] for k in range(len(classes))]
    fig = go.Figure(
        go.Bar(x=list(classes), y=probabilities, marker_color=colours, text=[f"{p:.0%}" for p in probabilities])
    )
    fig.update_yaxes(range=[0, 1])
    return finish(fig, title, x_title="class", y_title="probability", height=320)


def lesson_bars(before: np.ndarray, after: np.ndarray, classes: list[str], title: str) -> go.Figure:
    """A word's class probabilities before and after a lesson, side by side per class."""
    fig = go.Figure()
    for name, values, opacity in (("before the lesson", before, 0.45), ("after the lesson", after, 1.0)):
        fig.add_bar(
            x=list(classes),
            y=values,
            name=name,
            opacity=opacity,
            marker_color=[CLASS_COLOURS[k % len(CLASS_COLOURS)] for k in range(len(classes))],
            text=[f"{p:.0%}" for p in values],
        )
    fig.update_layout(barmode="group", legend={"orientation": "h", "y": -0.25})
    fig.update_yaxes(range=[0, 1])
    return finish(fig, title, x_title="class", y_title="probability", height=340)


def attribution_bars(characters: list[str], attributions: np.ndarray, target: str, title: str) -> go.Figure:
    """Integrated-Gradients attribution of each character to the ``target`` class (signed, centred at 0)."""
    limit = _bound(attributions)
    fig = go.Figure(
        go.Bar(
            x=position_labels(characters),
            y=attributions,
            marker={
                "color": attributions,
                "colorscale": DIVERGING,
                "cmin": -limit,
                "cmax": limit,
                "colorbar": {"title": {"text": "attribution"}},
            },
            hovertemplate="%{x}<br>attribution %{y:.3f}<extra></extra>",
        )
    )
    return finish(fig, title, x_title="character", y_title=f"attribution to '{target}'", height=340)


def comparison_curves(curves: dict, title: str, target: float | None = None) -> go.Figure:
    """Loss (log) and accuracy against the step for several cells trained side by side.

    ``curves[cell]`` holds "step", "loss" and "accuracy" columns (a dict of arrays or a ``MetricHistory``).
    """
    fig = make_subplots(rows=1, cols=2, subplot_titles=("training loss", "training accuracy"))
    for name, c in curves.items():
        colour, label = CELL_COLOURS.get(name), CELL_LABELS.get(name, name)
        fig.add_trace(
            go.Scatter(x=c["step"], y=c["loss"], mode="lines", name=label, legendgroup=name, line_color=colour),
            row=1,
            col=1,
        )
        fig.add_trace(
            go.Scatter(
                x=c["step"],
                y=c["accuracy"],
                mode="lines",
                name=label,
                legendgroup=name,
                showlegend=False,
                line_color=colour,
            ),
            row=1,
            col=2,
        )
    if target is not None:
        fig.add_hline(
            y=target,
            line_dash="dot",
            line_color="grey",
            row=1,
            col=2,
            annotation_text=f"target {target:.0%}",
            annotation_position="bottom right",
        )
    fig.update_yaxes(type="log", title_text="loss", row=1, col=1)
    fig.update_yaxes(range=[0, 1.02], title_text="accuracy", row=1, col=2)
    fig.update_xaxes(title_text="optimizer step")
    fig = finish(fig, title, height=400)
    fig.update_layout(legend={"orientation": "h", "yanchor": "top", "y": -0.22, "xanchor": "center", "x": 0.5})
    return fig
