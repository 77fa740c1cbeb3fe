"""Shared figure conventions: titles, axis titles, colour scales, display decimation, presenter fonts."""

from __future__ import annotations

import html

import numpy as np
import plotly.graph_objects as go

DIVERGING = "RdBu_r"
SEQUENTIAL = "Viridis"
BASE_FONT = 13
PRESENTER_SCALE = 1.6
PRESENTER_MAX_HEIGHT = 360  # px: with the title, presets and tabs above, a figure fits a 1280x720 projector
MAX_DISPLAY_CELLS = 512
CELL_COLOURS = {"rnn": "#d62728", "lstm": "#1f77b4", "gru": "#2ca02c"}


def literal_label(text: str) -> str:
    """Typed text as plotly draws it literally: its pseudo-HTML (<b>, <br>, <sup>, <a>) escaped as entities."""
    return html.escape(text, quote=False)


def position_labels(tokens: list[str]) -> list[str]:
    """Axis labels "1: the", "2: cat" ... by position: equal tokens stay apart (plotly merges equal categories)."""
    return [f"{t + 1}: {literal_label(token)}" for t, token in enumerate(tokens)]


def house_layout(title: str, height: int = 420) -> dict:
    """The house layout: title top left, margins, font, a horizontal legend above the plot."""
    return {
        "title": {"text": title, "x": 0.0, "xanchor": "left"},
        "height": height,
        "margin": {"l": 60, "r": 20, "t": 60, "b": 55},
        "font": {"size": BASE_FONT},
        "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.0, "xanchor": "right", "x": 1.0},
    }


def finish(fig: go.Figure, title: str, x_title: str | None = None, y_title: str | None = None, height: int = 420):
    """Give ``fig`` its title, axis titles and the house layout; returns it."""
    fig.update_layout(house_layout(title, height))
    if x_title is not None:
        fig.update_xaxes(title_text=x_title)
    if y_title is not None:
        fig.update_yaxes(title_text=y_title)
    return fig


def presenter(fig: go.Figure, scale: float = PRESENTER_SCALE) -> go.Figure:
    """A copy of ``fig`` with every font enlarged for a projector."""
    big = go.Figure(fig)
    height = min(int((fig.layout.height or 420) * 1.15), PRESENTER_MAX_HEIGHT)
    big.update_layout(font={"size": round(BASE_FONT * scale)}, height=height)
    big.update_annotations(font_size=round(BASE_FONT * scale))
    return big


def decimate(matrix: np.ndarray, max_cells: int = MAX_DISPLAY_CELLS) -> tuple[np.ndarray, int, int]:
    """Every k-th row and column so that neither axis exceeds ``max_cells``; returns (view, row_step, col_step).

    Browsers choke on multi-million-cell heatmaps; the figure says which stride it shows.
    """
    row_step = -(-matrix.shape[0] // max_cells)
    col_step = -(-matrix.shape[1] // max_cells)
    return matrix[::row_step, ::col_step], row_step, col_step


def stride_note(row_step: int, col_step: int) -> str:
    if row_step == col_step == 1:
        return ""
    return f" (every {row_step}th row, {col_step}th column shown)"


def square_cells(fig: go.Figure) -> None:
    """Square pixels in every subplot (images and patch grids must not be stretched)."""
    names = [name for name in fig.layout.to_plotly_json() if name.startswith(("xaxis", "yaxis"))]
    for name in names:
        if name.startswith("yaxis"):
            fig.layout[name].update(scaleanchor="x" + name.removeprefix("yaxis"), constrain="domain")
        else:
            fig.layout[name].update(constrain="domain")
