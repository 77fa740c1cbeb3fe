"""Figures of the attention lab: annotated matrices, attention grids, rollout, the O(N^2) cost, the ViT views."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from viz.style import DIVERGING, finish, literal_label, position_labels

ATTENTION_SCALE = "Blues"


def _distinct(labels: list[str]) -> list[str]:
    return [literal_label(label) for label in labels] if len(set(labels)) == len(labels) else position_labels(labels)


def annotated_matrix(
    matrix: np.ndarray,
    name: str,
    row_labels: list[str] | None = None,
    col_labels: list[str] | None = None,
    signed: bool = True,
    note: str = "",
) -> go.Figure:
    """A small matrix with its values in the cells and its shape in the title. Labels that repeat (a token that
    occurs twice) are numbered by position ("1: the", "5: the"), so every row and column keeps its own cell."""
    matrix = np.asarray(matrix, dtype=float)
    rows, cols = matrix.shape
    y, x = (
        _distinct(labels or [str(i + 1) for i in range(n)]) for labels, n in ((row_labels, rows), (col_labels, cols))
    )
    limit = float(np.abs(matrix).max()) or 1.0
    scale = {"colorscale": DIVERGING, "zmid": 0.0} if signed else {"colorscale": ATTENTION_SCALE, "zmin": 0.0}
    heat = go.Heatmap(
        z=matrix,
        x=x,
        y=y,
        text=np.round(matrix, 2),
        texttemplate="%{text}",
        textfont={"size": 12},
        colorbar={"title": {"text": "value"}, "thickness": 10},
        hovertemplate="row %{y}, column %{x}: %{z:.3f}<extra></extra>",
        **scale,
    )
    fig = go.Figure(heat)
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_xaxes(type="category")
    if signed:
        fig.update_traces(zmin=-limit, zmax=limit)
    return finish(fig, f"{name}  ({rows} x {cols}){note}", "column", "row", height=120 + 32 * max(rows, 3))


def quadratic_cost_figure(n_tokens: int, d_model: int, max_tokens: int = 16384) -> go.Figure:
    """Entries of A (N^2) and multiply-adds of QK^T and AV (2 N^2 d) against N, log-log, the current N marked."""
    n = np.unique(np.geomspace(2, max_tokens, 60).astype(int))
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=n, y=n**2.0, mode="lines", name="entries of A: N^2"))
    fig.add_trace(
        go.Scatter(
            x=n, y=2.0 * n**2 * d_model, mode="lines", name=f"multiply-adds of QK^T and AV: 2 N^2 d (d={d_model})"
        )
    )
    fig.add_trace(go.Scatter(x=n, y=4.0 * n**2, mode="lines", name="bytes of A in float32", line={"dash": "dot"}))
    fig.add_trace(
        go.Scatter(
            x=[n_tokens],
            y=[n_tokens**2],
            mode="markers+text",
            name="your tokens",
            text=[f"N = {n_tokens}"],
            textposition="top left",
            marker={"size": 12, "color": "#d95f02"},
        )
    )
    fig.update_xaxes(type="log")
    fig.update_yaxes(type="log")
    return finish(
        fig, "Self-attention costs O(N^2): doubling the tokens quadruples A", "number of tokens N", "count (log)"
    )


def attention_grid(
    attentions: np.ndarray, tokens: list[str], title: str, query_tokens: list[str] | None = None
) -> go.Figure:
    """Every layer (rows) x head (columns) attention map A (queries down, keys across), ``(L, H, T, T)``."""
    attentions = np.asarray(attentions, dtype=float)
    n_layers, n_heads = attentions.shape[:2]
    keys = position_labels(tokens)
    queries = position_labels(query_tokens or tokens)
    fig = make_subplots(
        rows=n_layers,
        cols=n_heads,
        subplot_titles=[f"layer {layer + 1}, head {head + 1}" for layer in range(n_layers) for head in range(n_heads)],
        horizontal_spacing=0.04,
        vertical_spacing=0.08,
    )
    for layer in range(n_layers):
        for head in range(n_heads):
            fig.add_trace(
                go.Heatmap(
                    z=attentions[layer, head],
                    x=keys,
                    y=queries,
                    zmin=0.0,
                    zmax=1.0,
                    colorscale=ATTENTION_SCALE,
                    showscale=layer == head == 0,
                    colorbar={"title": {"text": "A[query, key]"}},
                    hovertemplate="query %{y} -> key %{x}: %{z:.3f}<extra></extra>",
                ),
                row=layer + 1,
                col=head + 1,
            )
    fig.update_yaxes(autorange="reversed", type="category", showticklabels=False)
    fig.update_xaxes(type="category", showticklabels=False)
    if len(tokens) <= 16:
        fig.update_yaxes(showticklabels=True, col=1)
        fig.update_xaxes(showticklabels=True, tickangle=-90, row=n_layers)
    fig.update_xaxes(title_text="key", row=n_layers)
    fig.update_yaxes(title_text="query", col=1)
    return finish(fig, title, height=80 + 260 * n_layers)


def attention_heatmap(
    matrix: np.ndarray, tokens: list[str], title: str, query_tokens: list[str] | None = None, annotate: bool = True
) -> go.Figure:
    """One enlarged (T_q, T_k) attention map with the tokens on both axes (values written if small)."""
    matrix = np.asarray(matrix, dtype=float)
    text = {"text": np.round(matrix, 2), "texttemplate": "%{text}"} if annotate and matrix.shape[0] <= 16 else {}
    fig = go.Figure(
        go.Heatmap(
            z=matrix,
            x=position_labels(tokens),
            y=position_labels(query_tokens or tokens),
            zmin=0.0,
            zmax=1.0,
            colorscale=ATTENTION_SCALE,
            colorbar={"title": {"text": "attention"}},
            hovertemplate="query %{y} -> key %{x}: %{z:.3f}<extra></extra>",
            **text,
        )
    )
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_xaxes(type="category")
    return finish(fig, title, "key token", "query token", height=460)


def query_attention_figure(attentions: np.ndarray, tokens: list[str], query: int) -> go.Figure:
    """How query token ``query`` spreads its attention over the keys in every head: rows = (layer, head)."""
    attentions = np.asarray(attentions, dtype=float)
    n_layers, n_heads = attentions.shape[:2]
    rows = attentions[:, :, query, :].reshape(n_layers * n_heads, -1)
    names = [f"L{layer + 1} H{head + 1}" for layer in range(n_layers) for head in range(n_heads)]
    fig = go.Figure(
        go.Heatmap(
            z=rows,
            x=position_labels(tokens),
            y=names,
            zmin=0.0,
            zmax=1.0,
            colorscale=ATTENTION_SCALE,
            text=np.round(rows, 2),
            texttemplate="%{text}" if len(tokens) <= 16 else "",
            colorbar={"title": {"text": "attention"}},
            hovertemplate="%{y}, key %{x}: %{z:.3f}<extra></extra>",
        )
    )
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_xaxes(type="category")
    title = f"Where query token {query} ({tokens[query]!s}) looks, in every head"
    return finish(fig, title, "key token", "layer, head", height=120 + 36 * len(names))


def mean_and_rollout_figure(head_means: np.ndarray, rollout: np.ndarray, tokens: list[str]) -> go.Figure:
    """Head-averaged attention per layer next to the attention rollout through all layers."""
    head_means = np.asarray(head_means, dtype=float)
    n_layers = head_means.shape[0]
    titles = [f"layer {layer + 1}: mean over heads" for layer in range(n_layers)] + ["rollout (all layers, + residual)"]
    fig = make_subplots(rows=1, cols=n_layers + 1, subplot_titles=titles, horizontal_spacing=0.05)
    labels = position_labels(tokens)
    for col, matrix in enumerate([*head_means, np.asarray(rollout, dtype=float)], start=1):
        fig.add_trace(
            go.Heatmap(
                z=matrix,
                x=labels,
                y=labels,
                zmin=0.0,
                zmax=1.0,
                colorscale=ATTENTION_SCALE,
                showscale=col == 1,
                colorbar={"title": {"text": "weight"}},
                hovertemplate="query %{y} -> key %{x}: %{z:.3f}<extra></extra>",
            ),
            row=1,
            col=col,
        )
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_xaxes(type="category", title_text="key token")
    fig.update_yaxes(title_text="query token", col=1)
    return finish(fig, "Head mean per layer and attention rollout (rows sum to 1)", height=420)


def pe_comparison_figure(curves: dict[str, tuple[np.ndarray, np.ndarray]], title: str) -> go.Figure:
    """Training accuracy against step for several runs (e.g. with and without positional encoding)."""
    fig = go.Figure()
    for name, (steps, accuracy) in curves.items():
        fig.add_trace(go.Scatter(x=steps, y=accuracy, mode="lines", name=name))
    fig.update_yaxes(range=[0, 1.02])
    return finish(fig, title, "optimizer step", "token accuracy", height=360)


def token_attribution_figure(
    tokens: list[str], attention_row: np.ndarray, rollout_row: np.ndarray, attribution: np.ndarray, query: int
) -> go.Figure:
    """For one output position: its last-layer head-mean attention and rollout over the inputs (>= 0) next to
    Integrated Gradients per input token (signed)."""
    labels = position_labels(tokens)
    fig = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=["attention of the query (last layer mean, rollout)", "Integrated Gradients (signed)"],
        horizontal_spacing=0.1,
    )
    fig.add_trace(go.Bar(x=labels, y=attention_row, name="last-layer head mean", marker_color="#1f5fbf"), row=1, col=1)
    fig.add_trace(go.Bar(x=labels, y=rollout_row, name="rollout", marker_color="#7fa7e0"), row=1, col=1)
    colours = ["#b2182b" if value > 0 else "#2166ac" for value in attribution]
    fig.add_trace(go.Bar(x=labels, y=attribution, name="attribution", marker_color=colours), row=1, col=2)
    fig.update_xaxes(type="category", title_text="input token")
    fig.update_yaxes(title_text="attention weight", range=[0, 1], row=1, col=1)
    fig.update_yaxes(title_text="attribution to the logit", row=1, col=2)
    return finish(fig, f"Output position {query} ({tokens[query]}): attention vs attribution", height=380)


def multi_head_figure(view, tokens: list[str], layer: int) -> go.Figure:
    """The slide's multi-head attention for one layer: each head's A_h (top), its output A_h V_h (middle),
    and the heads concatenated, W_o, and the layer's output concat(heads) W_o + b_o (bottom)."""
    heads, d_head = view.head_outputs.shape[0], view.d_head
    cols = max(heads, 3)
    labels = position_labels(tokens)
    titles = [f"A of head {h + 1}" if h < heads else "" for h in range(cols)]
    titles += [f"head {h + 1}: A V ({len(tokens)} x {d_head})" if h < heads else "" for h in range(cols)]
    d = view.W_o.shape[0]
    titles += [
        f"concatenated ({len(tokens)} x {d})",
        f"W_o ({d} x {d})",
        f"output = concat W_o + b_o ({len(tokens)} x {d})",
    ]
    titles += [""] * (cols - 3)
    fig = make_subplots(rows=3, cols=cols, subplot_titles=titles, horizontal_spacing=0.05, vertical_spacing=0.12)
    signed = {"colorscale": DIVERGING, "zmid": 0.0, "showscale": False}
    for h in range(heads):
        fig.add_trace(
            go.Heatmap(
                z=view.attention[h],
                x=labels,
                y=labels,
                zmin=0,
                zmax=1,
                colorscale=ATTENTION_SCALE,
                showscale=h == 0,
                colorbar={"title": {"text": "A"}, "len": 0.3, "y": 0.85},
            ),
            row=1,
            col=h + 1,
        )
        fig.add_trace(go.Heatmap(z=view.head_outputs[h], y=labels, **signed), row=2, col=h + 1)
    for col, matrix in enumerate((view.concatenated, view.W_o, view.output), start=1):
        fig.add_trace(go.Heatmap(z=matrix, y=labels if col != 2 else None, **signed), row=3, col=col)
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_yaxes(type="linear", row=3, col=2)
    fig.update_xaxes(showticklabels=False)
    return finish(fig, f"Multi-head attention of layer {layer + 1}: the heads, their concatenation, W_o", height=820)
