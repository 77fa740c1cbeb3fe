"""Live-training curves shared by every lab."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from models.core.engine import MetricHistory
from viz.style import finish


def training_curves(
    steps: np.ndarray,
    loss: np.ndarray,
    metric: np.ndarray | None = None,
    metric_name: str = "accuracy",
    title: str = "Training",
) -> go.Figure:
    """Loss (log scale, left axis) and a task metric (right axis) against the optimizer step (built as one
    layout, not with make_subplots: a training panel redraws it every poll)."""
    positive = loss[np.isfinite(loss) & (loss > 0)]
    traces = [go.Scatter(x=steps, y=loss, mode="lines", name="loss", line={"color": "#1f5fbf"})]
    layout = {"yaxis": {"title": {"text": "loss"}, "type": "log" if positive.size else "linear"}}
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
        layout |= {"yaxis2": right, "xaxis": {"domain": [0.0, 0.94]}}
    return finish(go.Figure(traces, layout), title, x_title="optimizer step", height=360)


def history_curves(history: MetricHistory, metric: str, title: str, metric_label: str | None = None) -> go.Figure:
    """:func:`training_curves` of an engine run: its loss and the task metric ``metric`` over its steps."""
    return training_curves(
        history.column("step"), history.column("loss"), history.column(metric), metric_label or metric, title
    )
