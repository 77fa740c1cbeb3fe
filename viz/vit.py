"""Figures of the ViT lab: an image cut into patches, CLS attention per layer and head over the image, and
attention beside Integrated Gradients."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from viz.style import DIVERGING, SEQUENTIAL, finish, square_cells


def _image_trace(image: np.ndarray, showscale: bool, colorscale="gray_r", title="pixel") -> go.Heatmap:
    return go.Heatmap(
        z=image, colorscale=colorscale, showscale=showscale, colorbar={"title": {"text": title}}, hoverinfo="z"
    )


def patches_figure(image: np.ndarray, patch_size: int, title: str) -> go.Figure:
    """The image with its p x p patches outlined and numbered in token order (token 0 is CLS)."""
    image = np.asarray(image, dtype=float)
    height, width = image.shape
    fig = go.Figure(go.Heatmap(z=image, colorscale="gray_r", colorbar={"title": {"text": "intensity"}}))
    for y in range(0, height, patch_size):
        for x in range(0, width, patch_size):
            number = 1 + (y // patch_size) * (width // patch_size) + x // patch_size
            fig.add_shape(
                type="rect",
                x0=x - 0.5,
                x1=x + patch_size - 0.5,
                y0=y - 0.5,
                y1=y + patch_size - 0.5,
                line={"color": "#d95f02", "width": 2},
            )
            fig.add_annotation(
                x=x + patch_size / 2 - 0.5,
                y=y + patch_size / 2 - 0.5,
                text=str(number),
                showarrow=False,
                font={"color": "#d95f02", "size": 14},
            )
    fig.update_yaxes(autorange="reversed")
    square_cells(fig)
    return finish(fig, title, "x (pixel)", "y (pixel)", height=420)


def upsample(grid: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour upsampling of a patch grid to pixels."""
    return np.kron(np.asarray(grid, dtype=float), np.ones((factor, factor)))


def vit_attention_figure(
    image: np.ndarray, cls_attention: np.ndarray, rollout: np.ndarray, patch_size: int
) -> go.Figure:
    """CLS attention over the patches for every layer (rows) and head (columns), and the rollout, laid over the image.

    ``cls_attention`` is ``(L, H, grid, grid)``, ``rollout`` ``(grid, grid)``.
    """
    cls_attention = np.asarray(cls_attention, dtype=float)
    n_layers, n_heads = cls_attention.shape[:2]
    cols = n_heads + 1
    top = float(cls_attention.max()) or 1.0
    titles = []
    for layer in range(n_layers):
        titles += [f"L{layer + 1} H{head + 1}" for head in range(n_heads)]
        titles.append("image" if layer == 0 else ("rollout" if layer == 1 else ""))
    fig = make_subplots(rows=n_layers, cols=cols, subplot_titles=titles, horizontal_spacing=0.03, vertical_spacing=0.1)
    for layer in range(n_layers):
        for head in range(n_heads):
            fig.add_trace(
                go.Heatmap(
                    z=upsample(cls_attention[layer, head], patch_size),
                    zmin=0.0,
                    zmax=top,
                    colorscale=SEQUENTIAL,
                    showscale=layer == head == 0,
                    colorbar={"title": {"text": "CLS attention"}},
                    hovertemplate="x %{x}, y %{y}: %{z:.3f}<extra></extra>",
                ),
                row=layer + 1,
                col=head + 1,
            )
    fig.add_trace(_image_trace(image, False), row=1, col=cols)
    if n_layers > 1:
        fig.add_trace(
            go.Heatmap(z=upsample(rollout, patch_size), colorscale=SEQUENTIAL, showscale=False, hoverinfo="z"),
            row=2,
            col=cols,
        )
    fig.update_yaxes(autorange="reversed", showticklabels=False)
    fig.update_xaxes(showticklabels=False)
    square_cells(fig)
    return finish(
        fig,
        "What the CLS token attends to, per layer and head (right: the image and the rollout)",
        height=80 + 300 * n_layers,
    )


def attribution_figure(
    image: np.ndarray, rollout: np.ndarray, attribution: np.ndarray, patch_size: int, label: str
) -> go.Figure:
    """The image, the CLS attention rollout and Integrated Gradients side by side (IG on a diverging scale)."""
    limit = float(np.abs(attribution).max()) or 1.0
    fig = make_subplots(
        rows=1,
        cols=3,
        subplot_titles=["input image", "attention rollout of CLS", "Integrated Gradients (signed)"],
        horizontal_spacing=0.12,
    )
    fig.add_trace(_image_trace(image, False), row=1, col=1)
    fig.add_trace(
        go.Heatmap(
            z=upsample(rollout, patch_size),
            colorscale=SEQUENTIAL,
            colorbar={"title": {"text": "rollout"}, "x": 0.635, "thickness": 10},
            hovertemplate="x %{x}, y %{y}: %{z:.3f}<extra></extra>",
        ),
        row=1,
        col=2,
    )
    fig.add_trace(
        go.Heatmap(
            z=attribution,
            colorscale=DIVERGING,
            zmid=0.0,
            zmin=-limit,
            zmax=limit,
            colorbar={"title": {"text": "attribution"}},
            hovertemplate="x %{x}, y %{y}: %{z:.3f}<extra></extra>",
        ),
        row=1,
        col=3,
    )
    fig.update_yaxes(autorange="reversed", showticklabels=False)
    fig.update_xaxes(showticklabels=False)
    square_cells(fig)
    return finish(fig, f"Attention vs attribution for the prediction {label}", height=360)
