"""Figures of the positional-encoding lab: P, K = P P^T, the offset profile, learned vs sinusoidal, 2D PE."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from viz.style import DIVERGING, SEQUENTIAL, decimate, finish, stride_note


def _axis_values(length: int, step: int) -> np.ndarray:
    return np.arange(0, length, step)


def encoding_heatmap(encoding: np.ndarray, base: float) -> go.Figure:
    """P as positions (rows) x dimensions (columns); every entry lies in [-1, 1]."""
    view, row_step, col_step = decimate(encoding)
    length, d_model = encoding.shape
    fig = go.Figure(
        go.Heatmap(
            z=view,
            x=_axis_values(d_model, col_step),
            y=_axis_values(length, row_step),
            colorscale=DIVERGING,
            zmin=-1,
            zmax=1,
            colorbar={"title": {"text": "P[t, i]"}},
            hovertemplate="position t=%{y}<br>dimension i=%{x}<br>P=%{z:.3f}<extra></extra>",
        )
    )
    fig.update_yaxes(autorange="reversed")
    title = f"Sinusoidal encoding P ({length} positions x d={d_model}, base {base:g}){stride_note(row_step, col_step)}"
    return finish(fig, title, x_title="dimension i (even: sin, odd: cos)", y_title="position t")


def similarity_heatmap(similarity: np.ndarray, title: str, normalised: bool) -> go.Figure:
    """K = P P^T over its own range (sequential scale), or K / (d/2) in [-1, 1] (diverging, centred at 0)."""
    view, row_step, _ = decimate(similarity)
    length = similarity.shape[0]
    if normalised:
        scale = {"colorscale": DIVERGING, "zmin": -1.0, "zmax": 1.0}
    else:
        scale = {"colorscale": SEQUENTIAL, "zmin": float(similarity.min()), "zmax": float(similarity.max())}
    label = "K / (d/2)" if normalised else "K[i, j] = p_i . p_j"
    axis = _axis_values(length, row_step)
    fig = go.Figure(
        go.Heatmap(
            z=view,
            x=axis,
            y=axis,
            colorbar={"title": {"text": label}},
            hovertemplate="i=%{y}, j=%{x}<br>K=%{z:.3f}<extra></extra>",
            **scale,
        )
    )
    fig.update_yaxes(autorange="reversed", scaleanchor="x")
    return finish(fig, title + stride_note(row_step, row_step), x_title="position j", y_title="position i")


def offset_profile_figure(profiles: dict[int, np.ndarray], closed_form: np.ndarray, normalised: bool) -> go.Figure:
    """K[i, i+k] against the offset k for several start positions i, over the closed form sum_k cos(w_k k).

    The curves coincide: the similarity of two sinusoidal encodings depends on their offset only.
    """
    fig = go.Figure()
    offsets = np.arange(closed_form.size)
    fig.add_trace(
        go.Scatter(
            x=offsets,
            y=closed_form,
            mode="lines",
            name="closed form: sum_k cos(w_k k)",
            line={"color": "black", "width": 6},
            opacity=0.25,
        )
    )
    for start, profile in profiles.items():
        fig.add_trace(go.Scatter(x=np.arange(profile.size), y=profile, mode="lines", name=f"i = {start}"))
    y_title = "K[i, i+k] / (d/2)" if normalised else "K[i, i+k]"
    return finish(
        fig, "Similarity depends only on the offset k", x_title="offset k = j - i", y_title=y_title, height=360
    )


def learned_vs_sinusoidal(learned: np.ndarray | None, sinusoidal: np.ndarray, learned_label: str) -> go.Figure:
    """Cosine similarity of the learned positional embeddings beside that of the sinusoidal ones."""
    panels = [("sinusoidal (fixed)", sinusoidal)]
    if learned is not None:
        panels.insert(0, (learned_label, learned))
    fig = make_subplots(rows=1, cols=len(panels), subplot_titles=[name for name, _ in panels], horizontal_spacing=0.08)
    for column, (_, matrix) in enumerate(panels, start=1):
        fig.add_trace(
            go.Heatmap(
                z=cosine_similarity(matrix),
                colorscale=DIVERGING,
                zmin=-1,
                zmax=1,
                coloraxis="coloraxis",
                hovertemplate="i=%{y}, j=%{x}<br>cos=%{z:.2f}<extra></extra>",
            ),
            row=1,
            col=column,
        )
        fig.update_yaxes(autorange="reversed", title_text="position i", row=1, col=column)
        fig.update_xaxes(title_text="position j", row=1, col=column)
    fig.update_layout(
        coloraxis={"colorscale": DIVERGING, "cmin": -1, "cmax": 1, "colorbar": {"title": {"text": "cos(p_i, p_j)"}}}
    )
    return finish(fig, "Positional similarity: learned embeddings vs the sinusoidal encoding", height=430)


def cosine_similarity(encoding: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(encoding, axis=1, keepdims=True)
    unit = encoding / np.where(norms == 0, 1, norms)
    return unit @ unit.T


def encoding_2d_figure(encoding: np.ndarray, reference: tuple[int, int], channels: list[int]) -> go.Figure:
    """2D PE of a feature map ``(d, H, W)``: similarity of every pixel to ``reference`` and a few channels."""
    d_model, height, width = encoding.shape
    flat = encoding.reshape(d_model, -1)
    row, col = reference
    similarity = (flat[:, row * width + col] @ flat).reshape(height, width) / (d_model / 2)
    titles = [f"similarity to pixel (y={row}, x={col})"] + [
        f"channel {c} ({'x' if c < d_model // 2 else 'y'}, {'sin' if c % 2 == 0 else 'cos'})" for c in channels
    ]
    fig = make_subplots(rows=1, cols=1 + len(channels), subplot_titles=titles, horizontal_spacing=0.04)
    fig.add_trace(
        go.Heatmap(z=similarity, colorscale=DIVERGING, zmin=-1, zmax=1, coloraxis="coloraxis", name="similarity"),
        row=1,
        col=1,
    )
    fig.add_trace(
        go.Scatter(
            x=[col], y=[row], mode="markers", marker={"symbol": "x", "size": 12, "color": "black"}, name="reference"
        ),
        row=1,
        col=1,
    )
    for column, channel in enumerate(channels, start=2):
        fig.add_trace(
            go.Heatmap(z=encoding[channel], colorscale=DIVERGING, zmin=-1, zmax=1, coloraxis="coloraxis"),
            row=1,
            col=column,
        )
    fig.update_yaxes(autorange="reversed", scaleanchor="x", title_text="y")
    fig.update_xaxes(title_text="x")
    fig.update_layout(
        coloraxis={"colorscale": DIVERGING, "cmin": -1, "cmax": 1, "colorbar": {"title": {"text": "value"}}},
        showlegend=False,
    )
    return finish(fig, f"2D sinusoidal encoding of a {height}x{width} grid (d={d_model}: half x, half y)", height=340)
