"""Live-training curves shared by every lab."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from models.core.engine import MetricHistory
from viz.style import house_layout


def training_curves(
    steps: np.ndarray,
    loss: np.ndarray,
    metric: np.ndarray | None = None,
    metric_name: str = "accuracy",
    title: str = "Training",
) -> go.Figure:
    """Loss (log scale, left axis) and a task metric (right axis) against the optimizer step. A training panel
    redraws it every poll, so its whole layout goes into the constructor: plotly's update_layout (``finish``)
    would take three quarters of its time."""
    positive = loss[np.isfinite(loss) & (loss > 0)]
    traces = [go.Scatter(x=steps, y=loss, mode="lines", name="loss", line={"color": "#1f5fbf"})]
    layout = house_layout(title, height=360) | {
        "xaxis": {"title": {"text": "optimizer step"}},
        "yaxis": {"title": {"text": "loss"}, "type": "log" if positive.size else "linear"},
    }
    if metric is not None and np.isfinite(metric).any():
        traces.append(
            go.Scatter(x=steps, y=metric, mode="lines", name=metric_name, line={"color": "#d95f02"}, yaxis="y2")
        )
        right = {  # its own round ticks, not the log axis's positions
            "title": {"text": metric_name},
            "overlaying": "y",
            "side": "right",
            "rangemode": "tozero",
            "tickmode": "auto",
            "showgrid": False,
        }
        layout["yaxis2"] = right
        layout["xaxis"]["domain"] = [0.0, 0.94]
    return go.Figure(traces, layout)


def history_curves(history: MetricHistory, metric: str, title: str, metric_label: str | None = None) -> go.Figure:
    """:func:`training_curves` of an engine run: its loss and the task metric ``metric`` over its steps."""
    return training_curves(
        history.column("step"), history.column("loss"), history.column(metric), metric_label or metric, title
    )
