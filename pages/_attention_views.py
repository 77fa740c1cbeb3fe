"""Views of the attention lab's trained transformers: the layer x head grid with one head enlarged and a
query picker, and the slide's multi-head attention (the heads, their concatenation, W_o)."""

import streamlit as st

from models.core.evaluation import IGNORE_INDEX
from models.labs.attention import analysis
from pages import _ui
from viz import attention as figures


def show_maps(maps: analysis.AttentionMaps, prefix: str) -> int:
    """The layer x head grid, one head enlarged, a query picker, head mean and rollout."""
    n_layers, n_heads, length = maps.attentions.shape[:3]
    figure = figures.attention_grid(maps.attentions, maps.tokens, "Attention of every layer and head")
    how = (
        "One map per layer (rows) and head (columns): row = query token, column = key token, darker = more weight. "
        "Look for the pattern the task needs (see the hint above) and for heads that do different things."
    )
    _ui.show_figure(figure, f"{prefix}_grid", how)
    col_layer, col_head, col_query = st.columns(3)
    layer = col_layer.selectbox("Layer", range(1, n_layers + 1), index=n_layers - 1, key=f"{prefix}_layer") - 1
    head = col_head.selectbox("Head", range(1, n_heads + 1), key=f"{prefix}_head") - 1
    query = col_query.selectbox(
        "Query token", range(length), format_func=lambda i: f"{i}: {maps.tokens[i]}", key=f"{prefix}_query"
    )
    big, queries = st.columns(2)
    with big:
        title = f"Layer {layer + 1}, head {head + 1}"
        _ui.show_figure(
            figures.attention_heatmap(maps.attentions[layer, head], maps.tokens, title), key=f"{prefix}_big"
        )
    with queries:
        _ui.show_figure(figures.query_attention_figure(maps.attentions, maps.tokens, query), key=f"{prefix}_query_fig")
    figure = figures.mean_and_rollout_figure(maps.head_means, maps.rollout, maps.tokens)
    _ui.show_figure(figure, key=f"{prefix}_rollout")
    return query


def describe(maps: analysis.AttentionMaps) -> str:
    shown = ["-" if t == IGNORE_INDEX else str(t) for t in maps.targets]
    return (
        f"Input `{' '.join(maps.tokens)}` -> prediction `{' '.join(map(str, maps.predictions))}`, "
        f"target `{' '.join(shown)}` ({maps.accuracy:.0%} of positions right)."
    )


def multi_head(model, task, tokens, words: list[str]) -> None:
    """How the heads of one layer combine, on the layer whose heads differ most (the slide's point: each head
    attends to different parts), with the measured difference stated."""
    differences = analysis.head_differences(model, task)
    layer = st.selectbox(
        "Layer",
        range(len(differences)),
        index=differences.index(max(differences)),
        format_func=lambda i: f"layer {i + 1}",
        key="attn_mh_layer",
    )
    view = analysis.multi_head_view(model, tokens, layer)
    heads, d = view.attention.shape[0], view.W_o.shape[0]
    st.markdown(
        f"Each of the **{heads} heads** computes its own $A_h = \\mathrm{{softmax}}(Q_h K_h^T / \\sqrt{{d_{{head}}}})$ "
        f"with $d_{{head}} = d / h = {d} / {heads} = {view.d_head}$, and $A_h V_h$; the heads' outputs are "
        f"concatenated ({d} columns) and mixed by a linear layer $W_o$. On {analysis.HEAD_DIFFERENCE_INPUTS} "
        f"held-out inputs the heads of layer {layer + 1} differ by **{differences[layer]:.2f}** (mean "
        "total-variation distance between their attention rows: 0 identical, 1 disjoint)."
    )
    how = (
        "Top: where each head looks (rows: queries, columns: keys). Middle: what each head returns, A_h V_h. "
        "Bottom: the heads side by side (concatenated), the output projection W_o, and the layer's output; "
        "different heads carry different information into the concatenation."
    )
    _ui.show_figure(figures.multi_head_figure(view, words, layer), "attn_multi_head", how)
