"""Checks every figure test shares: no NaN or infinity drawn, a title and titled axes."""

import numpy as np
import plotly.graph_objects as go


def assert_finite(fig: go.Figure) -> None:
    """Every float x, y and z of every trace is finite."""
    for trace in fig.data:
        for attr in ("x", "y", "z"):
            values = getattr(trace, attr, None)
            if values is not None and np.asarray(values).dtype.kind == "f":
                assert np.isfinite(np.asarray(values, dtype=float)).all()


def assert_axes_titled(fig: go.Figure) -> str:
    """The figure has a title and its first x and y axes are titled; returns the title."""
    assert fig.layout.title.text
    assert fig.layout.xaxis.title.text and fig.layout.yaxis.title.text
    return fig.layout.title.text
