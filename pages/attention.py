"""Attention lab: self-attention step by step, a tiny transformer's heads on toy tasks, PE on and off."""

from dataclasses import replace

import streamlit as st

from models.blocks.positional import POSITIONAL_KINDS
from models.data.tokens import TASKS
from models.labs.attention import analysis, steps
from models.labs.attention.pretrain import PretrainedRun, checkpoint_path, load_pretrained
from models.labs.attention.spec import build_trainer
from pages import _attention_views, _ui
from pages._controls import LEARNING_RATES, Control, Controls
from viz import attention as figures
from viz.training import history_curves

CONTROLS = Controls(
    [
        Control("attn_words", "Tokens (2 to 12 words)", "the cat sat on the mat", "text"),
        Control("attn_d", "d (width of X)", 4, "select_slider", (2, 4, 6, 8)),
        Control("attn_pe", "Add sinusoidal PE", False, "toggle"),
        Control("attn_task", "Toy task", "reverse", "selectbox", TASKS, format=lambda t: t.replace("_", " ")),
        Control("attn_train_pe", "Positional encoding", "sinusoidal", "selectbox", POSITIONAL_KINDS),
        Control("attn_train_layers", "Layers", 2, bounds=(1, 4, 1)),
        Control("attn_train_heads", "Heads", 2, "select_slider", (1, 2, 3, 4, 8)),
        Control("attn_train_steps", "Steps", 200, bounds=(50, 3000, 50)),
        Control("attn_train_lr", "Learning rate", 3e-3, "select_slider", LEARNING_RATES),
        Control("attn_train_prenorm", "Pre-norm (LayerNorm before attention and FFN)", False, "toggle", bind=False),
        Control("attn_pe_shift", "Permutation: rotate the tokens by", 3, bounds=(1, 7, 1)),
    ],
    presets={"'the cat sat on the mat'": {}, "multi-head attention": {"attn_task": "sort"}},
)
TASK_HINTS = {
    "reverse": "y_t = x_(T-1-t): look for an anti-diagonal head.",
    "offset_copy": "y_t = x_(t-2): look for a diagonal shifted by 2.",
    "sort": "the tokens in increasing order: position t looks for the token of rank t.",
    "count": "y_t = how often x_t occurs: heads attend to equal tokens (learned without any PE).",
}
WHY_THEY_DIFFER = (
    "**Why they differ.** Attention weights say how much each query *reads* from each token's value vector in one "
    "layer: they are non-negative, sum to 1, and ignore what the values contain and the residual path around "
    "attention. Integrated Gradients asks how much each input token *changes* the predicted class's logit, through "
    "every layer, the FFNs and the head, with a sign. A token can be attended to and still not matter for this output."
)


@st.cache_resource(show_spinner=False)
def pretrained(name: str, positional: str | None = None) -> PretrainedRun:
    """Read-only pretrained snapshots shared by every session (only used for inference)."""
    return load_pretrained(checkpoint_path(_ui.ASSETS, name, positional))


_ui.lab_header(
    "Attention and transformers",
    "Transformer block > Self-attention, Multi-headed attention, Layer normalization, FFN",
    "Self-attention turns a set of tokens X into Q = XW_q, K = XW_k, V = XW_v, weighs every pair of tokens with "
    "$A = \\mathrm{softmax}(QK^T/\\sqrt{d_k})$ and returns $Y = AV$: every output mixes **all** inputs. One head "
    "uses $d_k = d$; with h heads each head divides by $\\sqrt{d_{head}}$, $d_{head} = d / h$.",
)
CONTROLS.preset_buttons("attn", label="Lecture figure")
CONTROLS.init()

steps_tab, heads_tab, pe_tab = st.tabs(["Self-attention step by step", "Heads of a trained transformer", "PE on / off"])

with steps_tab, _ui.user_errors():
    text, d_model, positional = CONTROLS.row("attn_words", "attn_d", "attn_pe", widths=[3, 1, 1])
    words = steps.parse_words(text)
    X = steps.word_embeddings(words, d_model, positional)
    s = steps.self_attention_steps(X, *steps.random_projections(d_model, _ui.global_seed()))
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
                _ui.show_figure(figures.annotated_matrix(matrix.numpy(), name, rows, cols), key=f"attn_step_{name[:3]}")
    score_col, softmax_col, y_col = st.columns(3)
    with score_col:
        figure = figures.annotated_matrix(s.scores.numpy(), "scores Q K^T / sqrt(d)", words, words)
        _ui.show_figure(figure, key="attn_step_scores")
    with softmax_col:
        figure = figures.annotated_matrix(
            s.A.numpy(), "A = softmax(rows)", words, words, signed=False, note=" rows sum to 1"
        )
        _ui.show_figure(figure, key="attn_step_A")
    with y_col:
        _ui.show_figure(figures.annotated_matrix(s.Y.numpy(), "Y = A V", words, dims), key="attn_step_Y")
    st.markdown(
        f"A has **N x N = {n} x {n} = {n * n}** entries: every token looks at every token. "
        "At N = 4,096 tokens (a 64 x 64 image of pixels) that is 16.8 million weights per head and layer."
    )
    how = "Both axes are logarithmic: a slope of 2 means doubling the tokens quadruples the cost."
    _ui.show_figure(figures.quadratic_cost_figure(n, d_model), "attn_cost", how)
    arrays = {name: getattr(s, name).numpy() for name in ("X", "W_q", "W_k", "W_v", "Q", "K", "V", "scores", "A", "Y")}
    settings = {"tokens": words, "d": d_model, "positional": positional, "seed": _ui.global_seed()}
    _ui.export_buttons("attention_steps", arrays, settings, csv=("A", s.A.numpy()))

with heads_tab, _ui.user_errors():
    name = CONTROLS.show("attn_task")
    run = pretrained(name)
    task, config = run.run.task, run.run.model
    st.markdown(
        f"**{name.replace('_', ' ')}**: {TASK_HINTS[name]} A {config.n_layers}-layer, {config.n_heads}-head "
        f"transformer (d = {config.d_model}, {config.positional} PE), pretrained {run.steps[-1]} steps; held-out "
        f"token accuracy **{run.meta['final_accuracy']:.1%}**."
    )
    col_tokens, col_step = st.columns([2, 3])
    text = col_tokens.text_input(
        f"{task.length} tokens from 0 to {task.vocab_size - 1}",
        task.example(),
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
    tokens = task.parse(text)
    maps = analysis.attention_maps(run.models[snapshot], task, tokens)
    st.markdown(_attention_views.describe(maps))
    query = _attention_views.show_maps(maps, "attn_pre")
    attribution = analysis.token_attribution(run.models[snapshot], tokens, query)
    figure = figures.token_attribution_figure(
        maps.tokens, maps.head_means[-1, query], maps.rollout[query], attribution, query
    )
    how = (
        "Left: what the chosen output position attends to (last layer's head mean, and the rollout through all "
        "layers). Right: how much each input token moves its predicted logit (Integrated Gradients, signed)."
    )
    _ui.show_figure(figure, "attn_attribution", how)
    st.markdown(WHY_THEY_DIFFER)
    arrays = {"attentions": maps.attentions, "head_means": maps.head_means, "rollout": maps.rollout}
    settings = {"task": name, "tokens": maps.tokens, "step": run.steps[snapshot]}
    _ui.export_buttons("attention_maps", arrays, settings, csv=("rollout", maps.rollout))
    st.subheader("How the heads combine")
    _attention_views.multi_head(run.models[snapshot], task, tokens, maps.tokens)

    st.subheader("Train it yourself")
    keys = ("attn_train_pe", "attn_train_layers", "attn_train_heads", "attn_train_steps", "attn_train_lr")
    kind, n_layers, n_heads, n_steps, lr = CONTROLS.row(*keys)
    with _ui.secondary_controls():
        norm_first = CONTROLS.show("attn_train_prenorm")
    model = replace(config, positional=kind, n_layers=n_layers, n_heads=n_heads, norm_first=norm_first)
    mine = replace(run.run, model=model, train=replace(run.run.train, steps=n_steps, lr=lr, seed=_ui.global_seed()))

    def render(trainer) -> None:
        title = f"{name.replace('_', ' ')} with {trainer.model.positional_kind} PE"
        _ui.show_figure(history_curves(trainer.history, "accuracy", title), key="attn_train_curves")
        live = analysis.attention_maps(trainer.model, task, tokens)
        st.markdown(_attention_views.describe(live))
        figure = figures.attention_grid(live.attentions, live.tokens, f"Attention of your model at step {trainer.step}")
        _ui.show_figure(figure, key="attn_train_grid")

    chance = ("accuracy", 1 / task.n_classes)
    _ui.live_training("attn", lambda: build_trainer(mine, _ui.device()), render, chance=chance)

with pe_tab, _ui.user_errors():
    st.markdown(
        "Without a positional encoding the encoder is **permutation-equivariant**: permute the input tokens and the "
        "outputs (and the attention maps) permute the same way, f(Px) = P f(x). It cannot learn *reverse*, which "
        "depends on positions; with sinusoidal PE it does."
    )
    with_pe, without_pe = pretrained("reverse"), pretrained("reverse", "none")
    curves = {
        f"{r.run.model.positional} PE": (r.meta["curve"]["step"], r.meta["curve"]["accuracy"])
        for r in (with_pe, without_pe)
    }
    figure = figures.pe_comparison_figure(curves, "Reverse: training accuracy with and without PE")
    how = "With sinusoidal PE the reverse task is learned; without PE accuracy stalls near chance."
    _ui.show_figure(figure, "attn_pe_curves", how)
    task = with_pe.run.task
    permutation = analysis.rotation(task.length, CONTROLS.show("attn_pe_shift"))
    tokens = task.parse(task.example())
    gaps = {
        r.run.model.positional: analysis.equivariance_gap(r.final, tokens, permutation) for r in (with_pe, without_pe)
    }
    st.markdown(
        f"max |f(Px) - P f(x)| over the logits: **{gaps['none']:.1e}** without PE (zero up to rounding), "
        f"**{gaps['sinusoidal']:.2f}** with sinusoidal PE."
    )
    original = analysis.attention_maps(without_pe.final, task, tokens)
    permuted = analysis.attention_maps(without_pe.final, task, tokens[:, permutation])
    left, right = st.columns(2)
    with left:
        figure = figures.attention_heatmap(original.head_means[0], original.tokens, "No PE, layer 1 head mean: x")
        _ui.show_figure(figure, key="attn_pe_original")
    with right:
        figure = figures.attention_heatmap(
            permuted.head_means[0], permuted.tokens, "No PE, layer 1 head mean: rotated x"
        )
        _ui.show_figure(figure, key="attn_pe_permuted")
    st.caption(
        "The right map is the left one with rows and columns rotated: the weights follow the tokens, not positions."
    )
