"""Live-training curves shared by every lab."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from models.core.engine import MetricHistory
from viz.style import finish


def training_curves(
    steps: np.ndarray,
    loss: np.ndarray,
    metric: np.ndarray | None = None,
    metric_name: str = "accuracy",
    title: str = "Training",
) -> go.Figure:
    """Loss (log scale, left axis) and a task metric (right axis) against the optimizer step."""
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(go.Scatter(x=steps, y=loss, mode="lines", name="loss", line={"color": "#1f5fbf"}))
    if metric is not None and np.isfinite(metric).any():
        fig.add_trace(
            go.Scatter(x=steps, y=metric, mode="lines", name=metric_name, line={"color": "#d95f02"}),
            secondary_y=True,
        )
        fig.update_yaxes(title_text=metric_name, secondary_y=True, rangemode="tozero")
    positive = loss[np.isfinite(loss) & (loss > 0)]
    fig.update_yaxes(title_text="loss", type="log" if positive.size else "linear", secondary_y=False)
    return finish(fig, title, x_title="optimizer step", height=360)


def history_curves(history: MetricHistory, metric: str, title: str, metric_label: str | None = None) -> go.Figure:
    """:func:`training_curves` of an engine run: its loss and the task metric ``metric`` over its steps."""
    return training_curves(
        history.column("step"), history.column("loss"), history.column(metric), metric_label or metric, title
    )
