"""Figures of the gradient lab: ||dh_t/dh_k|| maps and decay curves, W's spectrum, gradients in training.

Non-finite norms (an exploding product that overflowed) are drawn as "overflow" markers, never as NaN.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from models.blocks.recurrent import CELL_LABELS
from viz.style import CELL_COLOURS, DIVERGING, SEQUENTIAL, finish

REGIME_TEXT = {
    "vanishing": "vanishing (norms shrink with t - k)",
    "exploding": "exploding (norms grow with t - k)",
    "edge": "edge of stability (norms stay near 1)",
}


def _log10(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(log10 of the finite positive values, NaN elsewhere; mask of the overflowed entries)."""
    values = np.asarray(values, dtype=float)
    overflow = ~np.isfinite(values)
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.where(~overflow & (values > 0), np.log10(np.where(values > 0, values, 1.0)), np.nan)
    return logs, overflow


def _symmetric_range(logs: np.ndarray) -> float:
    finite = logs[np.isfinite(logs)]
    return float(max(np.abs(finite).max(), 1.0)) if finite.size else 1.0


def _legend_below(fig: go.Figure) -> go.Figure:
    fig.update_layout(legend={"orientation": "h", "yanchor": "top", "y": -0.2, "xanchor": "left", "x": 0.0})
    return fig


def jacobian_heatmap(norms: np.ndarray, ks: np.ndarray, norm: str = "spectral", note: str = "") -> go.Figure:
    """log10 ||dh_t/dh_k|| over (t, k), diverging at 0 (norm 1): blue vanishes, red explodes."""
    logs, overflow = _log10(norms)  # (T, K)
    T = norms.shape[0]
    lag = np.arange(T)[:, None] - np.asarray(ks)[None, :]
    logs = np.where(lag >= 0, logs, np.nan)
    limit = _symmetric_range(logs)
    fig = go.Figure(
        go.Heatmap(
            z=logs,
            x=np.asarray(ks),
            y=np.arange(T),
            colorscale=DIVERGING,
            zmid=0,
            zmin=-limit,
            zmax=limit,
            colorbar={"title": {"text": f"log10 ||dh_t/dh_k||<br>({norm})"}},
            hovertemplate="t=%{y}, k=%{x}<br>log10 norm=%{z:.2f}<extra></extra>",
        )
    )
    overflow &= lag >= 0
    if overflow.any():
        t_idx, k_idx = np.nonzero(overflow)
        fig.add_trace(
            go.Scatter(
                x=np.asarray(ks)[k_idx],
                y=t_idx,
                mode="markers",
                marker={"symbol": "x", "color": "black", "size": 5},
                name="overflow",
                hovertemplate="t=%{y}, k=%{x}: overflow<extra></extra>",
            )
        )
    title = f"log10 ||dh_t/dh_k|| over (t, k), {norm} norm{note}"
    fig = finish(fig, title, x_title="k (earlier step)", y_title="t (later step)", height=480)
    fig.update_yaxes(autorange="reversed")
    return fig


def decay_figure(
    lags: np.ndarray,
    profile: np.ndarray,
    bound_rate: float,
    rate: float,
    regime: str,
    norm: str = "spectral",
    last_step: np.ndarray | None = None,
) -> go.Figure:
    """The norm against t - k (geometric mean over pairs), the bound (beta_w beta_h)^(t-k), the regime."""
    lags = np.asarray(lags)
    fig = go.Figure()
    shown, overflow = _log10(profile)
    fig.add_trace(
        go.Scatter(x=lags, y=np.where(np.isnan(shown), None, profile), mode="lines", name="measured (mean over t)")
    )
    if last_step is not None:
        steps = np.arange(len(last_step))[::-1]  # lag T-1-k for k = 0..T-1
        last_logs, _ = _log10(last_step)
        fig.add_trace(
            go.Scatter(
                x=steps,
                y=np.where(np.isnan(last_logs), None, last_step),
                mode="lines",
                name="from the last step ||dh_T/dh_k||",
                line={"dash": "dot"},
            )
        )
    with np.errstate(over="ignore"):
        bound = np.power(float(bound_rate), lags.astype(float))
    fig.add_trace(
        go.Scatter(
            x=lags,
            y=np.where(np.isfinite(bound) & (bound > 0), bound, None),
            mode="lines",
            name=f"bound (beta_w beta_h)^(t-k), beta_w beta_h = {bound_rate:.3g}",
            line={"dash": "dash", "color": "black"},
        )
    )
    if overflow.any():
        fig.add_trace(
            go.Scatter(
                x=lags[overflow],
                y=[None] * int(overflow.sum()),
                mode="markers",
                name=f"overflow at {int(overflow.sum())} lags",
                marker={"symbol": "x", "color": "black"},
            )
        )
    fig.update_yaxes(type="log", exponentformat="power")
    title = f"Decay with t - k: {REGIME_TEXT.get(regime, regime)}, measured rate {rate:.3g} per step"
    fig = finish(fig, title, x_title="t - k (steps back in time)", y_title=f"||dh_t/dh_k|| ({norm})", height=460)
    return _legend_below(fig)


def eigenvalue_figure(eigenvalues: np.ndarray, beta_w: float, beta_h: float) -> go.Figure:
    """Eigenvalues of W in the complex plane with the unit circle and the circle of radius 1 / beta_h."""
    theta = np.linspace(0, 2 * np.pi, 361)
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(x=np.cos(theta), y=np.sin(theta), mode="lines", name="unit circle", line={"color": "grey"})
    )
    if beta_h != 1:
        fig.add_trace(
            go.Scatter(
                x=np.cos(theta) / beta_h,
                y=np.sin(theta) / beta_h,
                mode="lines",
                name=f"|lambda| = 1 / beta_h = {1 / beta_h:g}",
                line={"color": "grey", "dash": "dot"},
            )
        )
    fig.add_trace(
        go.Scatter(
            x=eigenvalues.real,
            y=eigenvalues.imag,
            mode="markers",
            name="eigenvalues of W",
            marker={"color": "#d95f02", "size": 7},
        )
    )
    radius = float(np.abs(eigenvalues).max()) if eigenvalues.size else 0.0
    fig.update_yaxes(scaleanchor="x", scaleratio=1)
    title = f"Eigenvalues of W: radius {radius:.3g}, beta_w = {beta_w:.3g}"
    return finish(fig, title, x_title="Re(lambda)", y_title="Im(lambda)", height=460)


def probe_heatmap(steps: np.ndarray, matrix: np.ndarray, window: int | None = None) -> go.Figure:
    """log10 ||dL/dh_k|| for each recorded training step (rows) and time step k (columns)."""
    logs, overflow = _log10(matrix)
    zero = np.asarray(matrix) == 0
    fig = go.Figure(
        go.Heatmap(
            z=logs,
            x=np.arange(matrix.shape[1]) if matrix.size else [],
            y=steps,
            colorscale=SEQUENTIAL,
            colorbar={"title": {"text": "log10 ||dL/dh_k||"}},
            hovertemplate="step %{y}, k=%{x}<br>log10 norm=%{z:.2f}<extra></extra>",
        )
    )
    if overflow.any():
        r, c = np.nonzero(overflow)
        fig.add_trace(go.Scatter(x=c, y=np.asarray(steps)[r], mode="markers", name="overflow", marker={"symbol": "x"}))
    note = ""
    if zero.any():
        note = " (blank: exactly 0, cut by truncation)" if window else " (blank: exactly 0)"
    title = f"How far back the loss reaches: ||dL/dh_k|| during training{note}"
    return finish(fig, title, x_title="k (time step; the loss is at the last step)", y_title="optimizer step")


def grad_norm_figure(
    steps: np.ndarray,
    grad_norm: np.ndarray,
    clip_norm: float | None,
    loss: np.ndarray | None = None,
    previous: tuple[str, np.ndarray, np.ndarray] | None = None,
) -> go.Figure:
    """The gradient norm before clipping and the loss per step (log axis), the clipping threshold, and the step
    that overflowed marked at the top; ``previous`` (label, steps, gradient norms) is an earlier run to compare."""
    steps, grad_norm = np.asarray(steps, dtype=float), np.asarray(grad_norm, dtype=float)
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=steps, y=_finite(grad_norm), mode="lines+markers", name="||grad|| before clipping"))
    if loss is not None:
        fig.add_trace(go.Scatter(x=steps, y=_finite(loss), mode="lines", name="loss", line={"color": "#d95f02"}))
    if previous is not None:
        label, old_steps, old_norm = previous
        fig.add_trace(
            go.Scatter(
                x=old_steps, y=_finite(old_norm), mode="lines", name=label, line={"dash": "dot", "color": "grey"}
            )
        )
    if clip_norm is not None:
        fig.add_hline(y=clip_norm, line={"dash": "dash", "color": "black"})
        fig.add_trace(
            go.Scatter(
                x=[None],
                y=[None],
                mode="lines",
                name=f"clipping threshold {clip_norm:g} (steps above it are scaled down)",
                line={"dash": "dash", "color": "black"},
            )
        )
    overflow = ~np.isfinite(grad_norm) | (~np.isfinite(loss) if loss is not None else False)
    if overflow.any():
        shown = np.concatenate([np.asarray(v, dtype=float) for v in (grad_norm, loss) if v is not None])
        top = 10 * max(shown[np.isfinite(shown) & (shown > 0)], default=1.0)
        fig.add_trace(
            go.Scatter(
                x=steps[overflow],
                y=[top] * int(overflow.sum()),
                mode="markers+text",
                text=[f"overflow at step {int(s)}" for s in steps[overflow]],
                textposition="bottom left",
                name="overflow (not finite)",
                marker={"symbol": "x", "size": 14, "color": "#b2182b"},
            )
        )
    fig.update_yaxes(type="log", exponentformat="power")
    clipping = " with clipping by norm" if clip_norm is not None else " (no clipping)"
    title = f"Gradient norm and loss per step{clipping}"
    return _legend_below(finish(fig, title, x_title="optimizer step", y_title="||dL/dtheta|| and loss", height=380))


def _finite(values: np.ndarray) -> list:
    """Positive finite values, None elsewhere (a log axis draws nothing there)."""
    return [float(v) if np.isfinite(v) and v > 0 else None for v in np.asarray(values, dtype=float)]


def cell_accuracy_figure(gaps: list[int], accuracy: dict[str, list[list[float]]], chance: float) -> go.Figure:
    """Test accuracy of each cell against the dependency length: each seed a dot, their mean a line."""
    fig = go.Figure()
    for cell, per_gap in accuracy.items():
        runs = np.asarray(per_gap, dtype=float)  # (gaps, seeds)
        colour, label = CELL_COLOURS.get(cell), CELL_LABELS.get(cell, cell)
        fig.add_trace(
            go.Scatter(
                x=gaps,
                y=runs.mean(1),
                mode="lines",
                name=f"{label} (mean of {runs.shape[1]} seeds)",
                line={"color": colour},
            )
        )
        fig.add_trace(
            go.Scatter(
                x=np.repeat(gaps, runs.shape[1]),
                y=runs.ravel(),
                mode="markers",
                name=f"{label}, one seed",
                marker={"color": colour, "size": 7, "opacity": 0.6},
                showlegend=False,
            )
        )
    fig.add_hline(y=chance, line={"dash": "dot", "color": "grey"})
    fig.add_trace(
        go.Scatter(
            x=[None], y=[None], mode="lines", name=f"chance ({chance:.0%})", line={"dash": "dot", "color": "grey"}
        )
    )
    fig.update_yaxes(range=[0, 1.05], tickformat=".0%")
    fig.update_xaxes(type="log", tickvals=list(gaps))
    return finish(
        fig,
        "Recall accuracy against the dependency length T",
        x_title="gap T (steps between symbol and answer)",
        y_title="test accuracy",
    )


def cell_profile_figure(profiles: dict[str, dict[str, np.ndarray]]) -> go.Figure:
    """||dh_T/dh_k|| (solid) and the LSTM's ||dC_T/dC_k|| and forget path (dashed) against T - k."""
    fig = go.Figure()
    for cell, profile in profiles.items():
        colour = CELL_COLOURS.get(cell)
        name = CELL_LABELS.get(cell, cell)
        for key, label, dash in (
            ("dh", f"{name}: ||dh_T/dh_k||", "solid"),
            ("dC", f"{name}: ||dC_T/dC_k||", "dash"),
            ("forget_path", f"{name}: ||prod f_j|| (cell path)", "dot"),
        ):
            if key not in profile:
                continue
            logs, _ = _log10(profile[key])
            fig.add_trace(
                go.Scatter(
                    x=profile["lag"],
                    y=np.where(np.isnan(logs), None, profile[key]),
                    mode="lines",
                    name=label,
                    line={"color": colour, "dash": dash},
                )
            )
    fig.update_yaxes(type="log", exponentformat="power")
    fig = finish(
        fig,
        "Gradient norm against t - k for trained RNN, LSTM and GRU",
        x_title="T - k (steps back from the answer)",
        y_title="Jacobian norm (spectral)",
        height=480,
    )
    return _legend_below(fig)
