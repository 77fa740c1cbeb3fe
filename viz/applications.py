"""Figures of the RNN applications lab: the lecture's four mappings, the character language model (next-letter
distribution, loss per character, perplexities), the encoder-decoder (accuracy against input length) and the
ConvLSTM on video (frames, state maps, phases).

Inputs are numpy arrays and plain dicts; outputs are plotly Figures.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from viz.attention import attention_heatmap
from viz.style import DIVERGING, finish, position_labels, square_cells

INPUT_COLOUR, STATE_COLOUR, OUTPUT_COLOUR = "#d62728", "#2ca02c", "#1f77b4"
SERIES_COLOURS = qualitative.D3
# The lecture's diagram: (title, inputs per step, outputs per step) over the steps drawn.
MAPPINGS = {
    "one_to_many": ("One-to-many<br>language model, captioning", (1, 0, 0, 0), (1, 1, 1, 1)),
    "many_to_one": ("Many-to-one<br>sentiment, VQA", (1, 1, 1, 1), (0, 0, 0, 1)),
    "many_to_many": ("Many-to-many<br>translation, char-nn", (1, 1, 1, 0, 0), (0, 0, 1, 1, 1)),
    "synced": ("Synced many-to-many<br>video (ConvLSTM), phases", (1, 1, 1, 1), (1, 1, 1, 1)),
}


def _box(fig: go.Figure, x: float, y: float, colour: str, col: int) -> None:
    fig.add_shape(
        type="rect", x0=x - 0.32, x1=x + 0.32, y0=y - 0.3, y1=y + 0.3, fillcolor=colour, line_width=0, row=1, col=col
    )


def _arrow(fig: go.Figure, x0: float, y0: float, x1: float, y1: float, col: int) -> None:
    axis = "" if col == 1 else str(col)
    fig.add_annotation(
        x=x1, y=y1, ax=x0, ay=y0, xref=f"x{axis}", yref=f"y{axis}", axref=f"x{axis}", ayref=f"y{axis}",
        showarrow=True, arrowhead=2, arrowsize=1, arrowwidth=1.5, arrowcolor="#555", text="",
    )  # fmt: skip


def mappings_diagram() -> go.Figure:
    """The lecture's "different tasks, different mappings": inputs x_t (red, bottom), states h_t (green, middle)
    and outputs y_t (blue, top) of the four mappings, one panel each."""
    fig = make_subplots(rows=1, cols=len(MAPPINGS), subplot_titles=[title for title, _, _ in MAPPINGS.values()])
    for col, (_, inputs, outputs) in enumerate(MAPPINGS.values(), start=1):
        for t, (has_input, has_output) in enumerate(zip(inputs, outputs, strict=True)):
            _box(fig, t, 1, STATE_COLOUR, col)
            if t:
                _arrow(fig, t - 1 + 0.32, 1, t - 0.32, 1, col)
            if has_input:
                _box(fig, t, 0, INPUT_COLOUR, col)
                _arrow(fig, t, 0.3, t, 0.7, col)
            if has_output:
                _box(fig, t, 2, OUTPUT_COLOUR, col)
                _arrow(fig, t, 1.3, t, 1.7, col)
        fig.add_trace(
            go.Scatter(x=[0, len(inputs) - 1], y=[-0.5, 2.5], mode="markers", marker_opacity=0, hoverinfo="skip"),
            row=1,
            col=col,
        )
    fig.update_xaxes(showgrid=False, zeroline=False, showticklabels=False, title_text="time step t")
    fig.update_yaxes(
        showgrid=False, zeroline=False, tickvals=[0, 1, 2], ticktext=["x_t", "h_t", "y_t"], range=[-0.6, 2.6]
    )
    fig.update_yaxes(title_text="layer", col=1)
    fig = finish(fig, "Different tasks, different mappings (red: inputs, green: RNN states, blue: outputs)", height=330)
    fig.update_layout(showlegend=False, margin={"t": 125})
    return fig


def next_letter_bars(probabilities: np.ndarray, symbols: str, drawn: int | None, title: str) -> go.Figure:
    """p(next symbol | prefix) over the alphabet ``(V,)``, the symbol drawn (or true) in a second colour."""
    colours = [OUTPUT_COLOUR] * len(symbols)
    if drawn is not None:
        colours[drawn] = INPUT_COLOUR
    labels = ["end ." if s == "." else s for s in symbols]
    fig = go.Figure(
        go.Bar(x=labels, y=probabilities, marker_color=colours, hovertemplate="%{x}: p = %{y:.3f}<extra></extra>")
    )
    fig.update_xaxes(type="category")
    fig.update_yaxes(range=[0, 1])
    return finish(fig, title, "next symbol", "probability", height=340)


def word_losses(symbols: list[str], losses: dict[str, np.ndarray], title: str) -> go.Figure:
    """-log p of each true next symbol of a word ``(n + 1,)`` under several models, grouped per symbol."""
    x = position_labels(["end ." if s == "." else s for s in symbols])
    fig = go.Figure(
        [
            go.Bar(x=x, y=values, name=name, marker_color=SERIES_COLOURS[i % len(SERIES_COLOURS)])
            for i, (name, values) in enumerate(losses.items())
        ]
    )
    fig.update_layout(barmode="group")
    fig.update_xaxes(type="category")
    return finish(fig, title, "predicted symbol (after reading the ones before)", "loss -log p (nats)", height=340)


def value_bars(values: dict[str, float], title: str, y_title: str, fmt: str = ".2f", upper: float | None = None):
    """One bar per model or baseline, its value written on it."""
    names = list(values)
    fig = go.Figure(
        go.Bar(
            x=names,
            y=[values[n] for n in names],
            text=[format(values[n], fmt) for n in names],
            textposition="outside",
            marker_color=[SERIES_COLOURS[i % len(SERIES_COLOURS)] for i in range(len(names))],
            hovertemplate="%{x}: %{y:.4f}<extra></extra>",
        )
    )
    top = upper if upper is not None else 1.15 * max(values.values())
    fig.update_yaxes(range=[0, top])
    return finish(fig, title, "model", y_title, height=320)


def accuracy_by_length(scores: dict[str, dict[int, float]], title: str, trained_up_to: int | None = None):
    """Exact-match accuracy against the number of input words, one line per model; a dotted line at the longest
    input seen in training."""
    fig = go.Figure()
    for i, (name, by_length) in enumerate(scores.items()):
        lengths = sorted(by_length)
        fig.add_trace(
            go.Scatter(
                x=lengths,
                y=[by_length[n] for n in lengths],
                mode="lines+markers",
                name=name,
                line_color=SERIES_COLOURS[i % len(SERIES_COLOURS)],
            )
        )
    if trained_up_to is not None:
        fig.add_vline(x=trained_up_to, line_dash="dot", line_color="grey", annotation_text="longest in training")
    fig.update_yaxes(range=[0, 1.02])
    return finish(fig, title, "input length (digit words)", "exact-match accuracy (greedy)", height=360)


def _gray(image: np.ndarray, **kwargs) -> go.Heatmap:
    return go.Heatmap(z=image, zmin=0, zmax=1, colorscale="Gray", showscale=False, **kwargs)


def frame_panels(panels: dict[str, np.ndarray], title: str) -> go.Figure:
    """Frames or predicted probabilities ``(H, W)`` in [0, 1] side by side, one panel each, rows downwards."""
    fig = make_subplots(rows=1, cols=len(panels), subplot_titles=list(panels), horizontal_spacing=0.03)
    for col, image in enumerate(panels.values(), start=1):
        fig.add_trace(_gray(image, hovertemplate="row %{y}, column %{x}: %{z:.2f}<extra></extra>"), row=1, col=col)
    fig.update_yaxes(autorange="reversed", showticklabels=False)
    fig.update_xaxes(showticklabels=False)
    fig.update_xaxes(title_text="pixel column", col=1)
    fig.update_yaxes(title_text="pixel row", col=1)
    square_cells(fig)
    return finish(fig, title, height=300)


def state_maps(hidden: np.ndarray, cell: np.ndarray, title: str) -> go.Figure:
    """The ConvLSTM's hidden maps H_t (top, in [-1, 1]) and cell maps C_t (bottom, unbounded) of one frame, one
    column per channel, ``(channels, H, W)`` each."""
    channels = hidden.shape[0]
    fig = make_subplots(rows=2, cols=channels, horizontal_spacing=0.01, vertical_spacing=0.04)
    cell_limit = float(np.abs(cell).max()) or 1.0
    for k in range(channels):
        for row, (maps, limit, name) in enumerate(((hidden, 1.0, "H_t"), (cell, cell_limit, "C_t")), start=1):
            fig.add_trace(
                go.Heatmap(
                    z=maps[k],
                    zmin=-limit,
                    zmax=limit,
                    colorscale=DIVERGING,
                    showscale=k == 0,
                    colorbar={"title": {"text": name}, "len": 0.45, "y": 0.78 if row == 1 else 0.22},
                    hovertemplate=f"{name} channel {k + 1}<br>row %{{y}}, column %{{x}}: %{{z:.3f}}<extra></extra>",
                ),
                row=row,
                col=k + 1,
            )
    fig.update_yaxes(autorange="reversed", showticklabels=False)
    fig.update_xaxes(showticklabels=False)
    fig.update_yaxes(title_text="H_t", row=1, col=1)
    fig.update_yaxes(title_text="C_t", row=2, col=1)
    for k in range(channels):
        fig.update_xaxes(title_text=f"channel {k + 1}", row=2, col=k + 1)
    square_cells(fig)
    return finish(fig, title, height=330)


def phase_timeline(truth: np.ndarray, predictions: dict[str, np.ndarray], phases: tuple[str, ...], title: str):
    """The phase of every frame ``(T,)``: the truth and each model's prediction, as steps over the frames (each
    prediction drawn 0.08 higher than the one before, so that lines that agree stay visible)."""
    frames = np.arange(1, len(truth) + 1)
    fig = go.Figure(
        go.Scatter(x=frames, y=truth, mode="lines", name="truth", line={"color": "black", "width": 6, "shape": "hv"})
    )
    for i, (name, predicted) in enumerate(predictions.items()):
        fig.add_trace(
            go.Scatter(
                x=frames,
                y=np.asarray(predicted) + 0.08 * (i + 1),
                mode="lines+markers",
                name=name,
                line={"color": SERIES_COLOURS[i % len(SERIES_COLOURS)], "shape": "hv"},
            )
        )
    fig.update_yaxes(tickvals=list(range(len(phases))), ticktext=list(phases), range=[-0.3, len(phases) - 0.5])
    return finish(fig, title, "frame t", "phase", height=320)


def attention_matrix(matrix: np.ndarray, inputs: list[str], outputs: list[str], title: str) -> go.Figure:
    """The encoder-decoder's attention ``(outputs, inputs)``: row t is a_t over the input characters."""
    fig = attention_heatmap(matrix, inputs, title, query_tokens=outputs, annotate=False)
    fig.update_xaxes(title_text="input character j (key: encoder state h_j)")
    fig.update_yaxes(title_text="output symbol t (query: decoder state s_t)")
    return fig
