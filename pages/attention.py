"""Attention lab: self-attention step by step, a tiny transformer's heads on toy tasks, PE on and off."""

from dataclasses import replace

import streamlit as st
import torch

from models import attention_tasks as tasks
from models.attention import self_attention_steps
from models.engine import Trainer
from models.positional import POSITIONAL_KINDS
from pages import _ui
from viz.attention import (
    annotated_matrix,
    attention_grid,
    attention_heatmap,
    mean_and_rollout_figure,
    pe_comparison_figure,
    quadratic_cost_figure,
    query_attention_figure,
    token_attribution_figure,
)
from viz.training import history_curves

LECTURE_FIGURE = {"attn_words": "the cat sat on the mat", "attn_d": 4, "attn_pe": False, "attn_task": "reverse"}


def apply_lecture_figure() -> None:
    st.session_state.update(LECTURE_FIGURE)


@st.cache_resource(show_spinner=False)
def pretrained(name: str, positional: str | None = None) -> tasks.PretrainedRun:
    """Read-only pretrained snapshots shared by every session (only used for inference)."""
    return tasks.load_pretrained(tasks.checkpoint_path(_ui.ASSETS, name, positional))


_ui.lab_header(
    "Attention and transformers",
    "Transformer block > Self-attention, Multi-headed attention, Layer normalization, FFN",
    "Self-attention turns a set of tokens X into Q = XW_q, K = XW_k, V = XW_v, weighs every pair of tokens with "
    "$A = \\mathrm{softmax}(QK^T/\\sqrt{d})$ and returns $Y = AV$: every output mixes **all** inputs.",
)
st.button("Lecture figure: 'the cat sat on the mat'", on_click=apply_lecture_figure, icon=":material/slideshow:")

steps_tab, heads_tab, pe_tab = st.tabs(["Self-attention step by step", "Heads of a trained transformer", "PE on / off"])

with steps_tab, _ui.user_errors():
    left, middle, right = st.columns([3, 1, 1])
    text = left.text_input(
        "Tokens (2 to 12 words)", "the cat sat on the mat", max_chars=200, key="attn_words", bind="query-params"
    )
    d_model = middle.select_slider("d (width of X)", options=[2, 4, 6, 8], value=4, key="attn_d", bind="query-params")
    positional = right.toggle("Add sinusoidal PE", key="attn_pe", bind="query-params")
    words = tasks.parse_words(text)
    X = tasks.word_embeddings(words, d_model, positional)
    s = self_attention_steps(X, *tasks.random_projections(d_model, _ui.global_seed()))
    n = len(words)
    dims = [f"d{j}" for j in range(d_model)]
    st.markdown(
        "Each word gets a fixed embedding row of X (the same word, the same row); W_q, W_k, W_v are random "
        "(change the seed in the sidebar). Equal words give equal rows of A unless a positional encoding is added."
    )
    for row in (
        [("X", s.X, words, dims), ("W_q", s.W_q, dims, dims), ("W_k", s.W_k, dims, dims), ("W_v", s.W_v, dims, dims)],
        [("Q = X W_q", s.Q, words, dims), ("K = X W_k", s.K, words, dims), ("V = X W_v", s.V, words, dims)],
    ):
        for column, (name, matrix, rows, cols) in zip(st.columns(len(row)), row, strict=True):
            with column:
                _ui.show_figure(annotated_matrix(matrix.numpy(), name, rows, cols), key=f"attn_step_{name[:3]}")
    score_col, softmax_col, y_col = st.columns(3)
    with score_col:
        figure = annotated_matrix(s.scores.numpy(), "scores Q K^T / sqrt(d)", words, words)
        _ui.show_figure(figure, key="attn_step_scores")
    with softmax_col:
        figure = annotated_matrix(s.A.numpy(), "A = softmax(rows)", words, words, signed=False, note=" rows sum to 1")
        _ui.show_figure(figure, key="attn_step_A")
    with y_col:
        _ui.show_figure(annotated_matrix(s.Y.numpy(), "Y = A V", words, dims), key="attn_step_Y")
    st.markdown(
        f"A has **N x N = {n} x {n} = {n * n}** entries: every token looks at every token. "
        "At N = 4,096 tokens (a 64 x 64 image of pixels) that is 16.8 million weights per head and layer."
    )
    _ui.show_figure(quadratic_cost_figure(n, d_model), key="attn_cost")
    arrays = {name: getattr(s, name).numpy() for name in ("X", "W_q", "W_k", "W_v", "Q", "K", "V", "scores", "A", "Y")}
    settings = {"tokens": words, "d": d_model, "positional": positional, "seed": _ui.global_seed()}
    _ui.export_buttons("attention_steps", arrays, settings, csv=("A", s.A.numpy()))


WHY_THEY_DIFFER = (
    "**Why they differ.** Attention weights say how much each query *reads* from each token's value vector in one "
    "layer: they are non-negative, sum to 1, and ignore what the values contain and the residual path around "
    "attention. Integrated Gradients asks how much each input token *changes* the predicted class's logit, through "
    "every layer, the FFNs and the head, with a sign. A token can be attended to and still not matter for this output."
)


def show_maps(maps: tasks.AttentionMaps, prefix: str) -> int:
    """The layer x head grid, one head enlarged, a query picker, head mean and rollout."""
    n_layers, n_heads, length = maps.attentions.shape[:3]
    _ui.show_figure(
        attention_grid(maps.attentions, maps.tokens, "Attention of every layer and head"), key=f"{prefix}_grid"
    )
    col_layer, col_head, col_query = st.columns(3)
    layer = col_layer.selectbox("Layer", range(1, n_layers + 1), index=n_layers - 1, key=f"{prefix}_layer") - 1
    head = col_head.selectbox("Head", range(1, n_heads + 1), key=f"{prefix}_head") - 1
    query = col_query.selectbox(
        "Query token", range(length), format_func=lambda i: f"{i}: {maps.tokens[i]}", key=f"{prefix}_query"
    )
    big, queries = st.columns(2)
    with big:
        figure = attention_heatmap(maps.attentions[layer, head], maps.tokens, f"Layer {layer + 1}, head {head + 1}")
        _ui.show_figure(figure, key=f"{prefix}_head_big")
    with queries:
        _ui.show_figure(query_attention_figure(maps.attentions, maps.tokens, query), key=f"{prefix}_query_fig")
    _ui.show_figure(mean_and_rollout_figure(maps.head_means, maps.rollout, maps.tokens), key=f"{prefix}_rollout")
    return query


def describe(maps: tasks.AttentionMaps) -> str:
    shown = ["-" if t == tasks.IGNORE_INDEX else str(t) for t in maps.targets]
    return (
        f"Input `{' '.join(maps.tokens)}` -> prediction `{' '.join(map(str, maps.predictions))}`, "
        f"target `{' '.join(shown)}` ({maps.accuracy:.0%} of positions right)."
    )


TASK_HINTS = {
    "reverse": "y_t = x_(T-1-t): look for an anti-diagonal head.",
    "offset_copy": "y_t = x_(t-2): look for a diagonal shifted by 2.",
    "sort": "the tokens in increasing order: position t looks for the token of rank t.",
    "count": "y_t = how often x_t occurs: heads attend to equal tokens (learned without any PE).",
}

with heads_tab, _ui.user_errors():
    name = st.selectbox(
        "Toy task", tasks.TASKS, format_func=lambda t: t.replace("_", " "), key="attn_task", bind="query-params"
    )
    run = pretrained(name)
    task = run.recipe.task
    st.markdown(
        f"**{name.replace('_', ' ')}**: {TASK_HINTS[name]} A {run.recipe.model.n_layers}-layer, "
        f"{run.recipe.model.n_heads}-head transformer (d = {run.recipe.model.d_model}, "
        f"{run.recipe.model.positional} PE), pretrained {run.steps[-1]} steps; held-out token accuracy "
        f"**{run.meta['final_accuracy']:.1%}**."
    )
    col_tokens, col_step = st.columns([2, 3])
    text = col_tokens.text_input(
        f"{task.length} tokens from 0 to {task.vocab_size - 1}",
        tasks.example_tokens(task),
        max_chars=200,
        key=f"attn_tokens_{name}",
    )
    snapshot = col_step.select_slider(
        "Checkpoint (training step): scrub to see when the heads specialise",
        options=list(range(len(run.steps))),
        value=len(run.steps) - 1,
        format_func=lambda i: f"step {run.steps[i]}",
        key=f"attn_snapshot_{name}",
    )
    maps = tasks.attention_maps(run.models[snapshot], task, task.parse(text))
    st.markdown(describe(maps))
    query = show_maps(maps, "attn_pre")
    attribution = tasks.token_attribution(run.models[snapshot], task.parse(text), query)
    figure = token_attribution_figure(maps.tokens, maps.head_means[-1, query], maps.rollout[query], attribution, query)
    _ui.show_figure(figure, key="attn_attribution")
    st.markdown(WHY_THEY_DIFFER)
    settings = {"task": name, "tokens": maps.tokens, "step": run.steps[snapshot]}
    arrays = {"attentions": maps.attentions, "head_means": maps.head_means, "rollout": maps.rollout}
    _ui.export_buttons("attention_maps", arrays, settings, csv=("rollout", maps.rollout))

    st.subheader("Train it yourself")
    col_pe, col_layers, col_heads, col_steps, col_lr = st.columns(5)
    kind = col_pe.selectbox("Positional encoding", POSITIONAL_KINDS, key="attn_train_pe", bind="query-params")
    n_layers = col_layers.slider("Layers", 1, 4, 2, key="attn_train_layers", bind="query-params")
    n_heads = col_heads.select_slider("Heads", [1, 2, 3, 4, 8], value=2, key="attn_train_heads", bind="query-params")
    steps = col_steps.slider("Steps", 50, 3000, run.recipe.steps, step=50, key="attn_train_steps", bind="query-params")
    lr = col_lr.select_slider(
        "Learning rate",
        options=[1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 1.0, 10.0],
        value=3e-3,
        key="attn_train_lr",
        bind="query-params",
    )
    with _ui.secondary_controls():
        norm_first = st.toggle("Pre-norm (LayerNorm before attention and FFN)", key="attn_train_prenorm")
    tokens = task.parse(text)

    def make_trainer() -> Trainer:
        model_config = replace(
            run.recipe.model, positional=kind, n_layers=n_layers, n_heads=n_heads, norm_first=norm_first
        )
        recipe = replace(run.recipe, model=model_config, steps=steps, lr=lr)
        return tasks.trainer_for(recipe, tasks.build_model(task, model_config), _ui.global_seed(), _ui.device())

    def render(trainer: Trainer) -> None:
        history = trainer.history
        title = f"{name.replace('_', ' ')} with {trainer.model.positional_kind} PE"
        _ui.show_figure(
            history_curves(history, "accuracy", title),
            key="attn_train_curves",
        )
        live = tasks.attention_maps(trainer.model, task, tokens)
        st.markdown(describe(live))
        figure = attention_grid(live.attentions, live.tokens, f"Attention of your model at step {trainer.step}")
        _ui.show_figure(figure, key="attn_train_grid")

    _ui.live_training("attn", make_trainer, render)

with pe_tab, _ui.user_errors():
    st.markdown(
        "Without a positional encoding the encoder is **permutation-equivariant**: permute the input tokens and the "
        "outputs (and the attention maps) permute the same way, f(Px) = P f(x). It cannot learn *reverse*, which "
        "depends on positions; with sinusoidal PE it does."
    )
    with_pe, without_pe = pretrained("reverse"), pretrained("reverse", "none")
    curves = {
        f"{r.recipe.model.positional} PE": (r.meta["curve"]["step"], r.meta["curve"]["accuracy"])
        for r in (with_pe, without_pe)
    }
    _ui.show_figure(
        pe_comparison_figure(curves, "Reverse: training accuracy with and without PE"), key="attn_pe_curves"
    )
    task = with_pe.recipe.task
    shift = st.slider(
        "Permutation: rotate the tokens by", 1, task.length - 1, 3, key="attn_pe_shift", bind="query-params"
    )
    tokens = task.parse(tasks.example_tokens(task))
    permutation = torch.roll(torch.arange(task.length), shift)
    gaps = {
        r.recipe.model.positional: tasks.equivariance_gap(r.final, tokens, permutation) for r in (with_pe, without_pe)
    }
    st.markdown(
        f"max |f(Px) - P f(x)| over the logits: **{gaps['none']:.1e}** without PE (zero up to rounding), "
        f"**{gaps['sinusoidal']:.2f}** with sinusoidal PE."
    )
    original = tasks.attention_maps(without_pe.final, task, tokens)
    permuted = tasks.attention_maps(without_pe.final, task, tokens[:, permutation])
    left, right = st.columns(2)
    with left:
        figure = attention_heatmap(original.head_means[0], original.tokens, "No PE, layer 1 head mean: x")
        _ui.show_figure(figure, key="attn_pe_original")
    with right:
        figure = attention_heatmap(permuted.head_means[0], permuted.tokens, "No PE, layer 1 head mean: rotated x")
        _ui.show_figure(figure, key="attn_pe_permuted")
    st.caption(
        "The right map is the left one with rows and columns rotated: the weights follow the tokens, not positions."
    )
