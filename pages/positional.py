"""Positional-encoding lab: the lecture's sinusoidal P, K = P P^T, learned vs sinusoidal, 2D PE."""

import streamlit as st
import torch

from models import order_task
from models.checkpoint import load_weights
from models.engine import TrainConfig, Trainer
from models.positional import (
    POSITIONAL_KINDS,
    offset_profile,
    offset_similarity,
    positional_similarity,
    sinusoidal_encoding,
    sinusoidal_encoding_2d,
)
from pages import _ui
from viz.positional import (
    encoding_2d_figure,
    encoding_heatmap,
    learned_vs_sinusoidal,
    offset_profile_figure,
    similarity_heatmap,
)
from viz.training import history_curves

LECTURE_FIGURE = {"pe_d": 128, "pe_len": 50, "pe_base": 10000.0}


def apply_lecture_figure() -> None:
    st.session_state.update(LECTURE_FIGURE)


_ui.lab_header(
    "Positional encoding",
    "Transformer block > Positional encoding, Sinusoidal positional encoding",
    "Self-attention sees a **set** of tokens: without a positional encoding it cannot tell their order. The "
    "lecture's encoding gives position t the vector $p_t$ with $p_t(2k) = \\sin(\\omega_k t)$, "
    "$p_t(2k+1) = \\cos(\\omega_k t)$, $\\omega_k = 1 / \\text{base}^{2k/d}$.",
)
st.button("Lecture figure: d = 128, 50 positions", on_click=apply_lecture_figure, icon=":material/slideshow:")

left, middle, right = st.columns(3)
d_model = left.slider("d_model (dimensions of p_t)", 2, 1024, 128, step=2, key="pe_d", bind="query-params")
length = middle.slider("Number of positions", 1, 2048, 50, key="pe_len", bind="query-params")
base = right.number_input(
    "Base of the frequencies",
    min_value=1.0,
    max_value=1e6,
    value=10000.0,
    step=1000.0,
    key="pe_base",
    bind="query-params",
)
with _ui.secondary_controls():
    normalised = st.toggle("Show K / (d/2), the cosine similarity, in [-1, 1]", key="pe_norm", bind="query-params")

sinusoid_tab, learned_tab, image_tab = st.tabs(["P and K = P P^T", "Learned vs sinusoidal", "2D encoding for images"])

with sinusoid_tab, _ui.user_errors():
    P = sinusoidal_encoding(length, d_model, base)
    K = positional_similarity(P)
    K_shown = K / (d_model / 2) if normalised else K
    st.markdown(
        f"Every entry of P lies in [-1, 1] (here from {P.min():.3f} to {P.max():.3f}); each p_t has squared norm "
        f"K[t, t] = d/2 = **{d_model / 2:g}**, so K / (d/2) is the cosine similarity, also in [-1, 1]."
    )
    heat_left, heat_right = st.columns(2)
    with heat_left:
        _ui.show_figure(encoding_heatmap(P.numpy(), base), key="pe_encoding")
    with heat_right:
        title = "Positional similarity K / (d/2)" if normalised else "Positional similarity K = P P^T"
        _ui.show_figure(similarity_heatmap(K_shown.numpy(), title, normalised), key="pe_similarity")

    starts = sorted({0, length // 4, length // 2})
    max_offset = min(length - 1 - max(starts), 200)
    scale = d_model / 2 if normalised else 1.0
    profiles = {i: (offset_profile(K, i, max_offset) / scale).numpy() for i in starts}
    closed_form = (offset_similarity(torch.arange(max_offset + 1), d_model, base) / scale).numpy()
    _ui.show_figure(offset_profile_figure(profiles, closed_form, normalised), key="pe_profile")
    st.caption(
        "p_i . p_(i+k) = sum_k [sin(w_k i) sin(w_k (i+k)) + cos(w_k i) cos(w_k (i+k))] = sum_k cos(w_k k): "
        "the curves for different i coincide with this closed form. Attention can read relative position."
    )
    settings = {"d_model": d_model, "positions": length, "base": base, "normalised": normalised}
    _ui.export_buttons("positional_encoding", {"P": P.numpy(), "K": K.numpy()}, settings, csv=("K", K.numpy()))


def pretrained_model(positional: str) -> order_task.TinyOrderModel:
    checkpoint = _ui.cached_checkpoint(order_task.checkpoint_path(_ui.ASSETS, positional).name)
    return load_weights(order_task.build_model(positional), checkpoint, source=f"{positional} checkpoint")


with learned_tab, _ui.user_errors():
    task = order_task.DEFAULT_TASK
    st.markdown(
        f"A one-layer transformer reads {task.length} random tokens (vocabulary {task.vocab_size}) and must output, "
        f"at every position t, the token seen **{task.offset} steps earlier**. Only a positional encoding lets it "
        f"know which token that is: without one it scores near chance ({1 / task.vocab_size:.0%} to about 25%)."
    )
    sinusoid_table = sinusoidal_encoding(task.length, 32).numpy()
    learned_table = pretrained_model("learned").positional_table(task.length).cpu().numpy()
    _ui.show_figure(
        learned_vs_sinusoidal(learned_table, sinusoid_table, "learned (pretrained)"), key="pe_learned_pretrained"
    )
    st.caption(
        "The learned embeddings solve the task while staying nearly orthogonal: the model only needs to tell "
        "positions apart and read an offset through W_q and W_k. The sinusoidal encoding builds the notion of "
        "distance in by construction (the band along the diagonal), and extends to lengths never trained on."
    )
    _ui.export_buttons(
        "positional_learned_vs_sinusoidal",
        {"learned_P": learned_table, "sinusoidal_P": sinusoid_table},
        {"task": "offset copy", **vars(task), "d_model": 32, "learned": "pretrained checkpoint"},
    )

    st.subheader("Train it yourself")
    col_kind, col_steps, col_lr = st.columns(3)
    kind = col_kind.selectbox(
        "Positional encoding", POSITIONAL_KINDS, index=1, key="pe_train_kind", bind="query-params"
    )
    steps = col_steps.slider("Steps", 50, 3000, 600, step=50, key="pe_train_steps", bind="query-params")
    lr = col_lr.select_slider(
        "Learning rate",
        options=[1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 1.0, 10.0],
        value=3e-3,
        key="pe_train_lr",
        bind="query-params",
    )

    def make_trainer() -> Trainer:
        torch.manual_seed(_ui.global_seed())
        model = order_task.build_model(kind)
        config = TrainConfig(steps=steps, lr=lr, seed=_ui.global_seed(), clip_norm=None)
        return Trainer(model, order_task.offset_copy_step, task.sample, config, device=_ui.device())

    def render(trainer: Trainer) -> None:
        title = f"Offset copy with {trainer.model.positional_kind} positional encoding"
        _ui.show_figure(history_curves(trainer.history, "accuracy", title), key="pe_train_curves")
        table = trainer.model.positional_table(task.length)
        if table is not None and trainer.model.positional_kind == "learned":
            figure = learned_vs_sinusoidal(table.cpu().numpy(), sinusoid_table, f"learned (step {trainer.step})")
            _ui.show_figure(figure, key="pe_train_similarity")

    _ui.live_training("pe", make_trainer, render)

with image_tab, _ui.user_errors():
    st.markdown(
        "For an image feature map, half of the channels encode the column x and half the row y "
        "(used by the U-Transformer's bottleneck attention)."
    )
    col_h, col_w, col_d = st.columns(3)
    height = col_h.slider("Height", 2, 64, 16, key="pe2d_h", bind="query-params")
    width = col_w.slider("Width", 2, 64, 16, key="pe2d_w", bind="query-params")
    channels = col_d.slider("Channels d", 4, 256, 64, step=4, key="pe2d_d", bind="query-params")
    col_y, col_x = st.columns(2)
    ref_y = col_y.slider("Reference pixel y", 0, height - 1, height // 2)
    ref_x = col_x.slider("Reference pixel x", 0, width - 1, width // 2)
    P2 = sinusoidal_encoding_2d(height, width, channels).numpy()
    quarter = channels // 4
    shown = [0, 2 * (quarter // 2), channels // 2, channels // 2 + 2 * (quarter // 2)]
    _ui.show_figure(encoding_2d_figure(P2, (ref_y, ref_x), list(dict.fromkeys(shown))), key="pe_2d")
    _ui.export_buttons("positional_encoding_2d", {"P2d": P2}, {"height": height, "width": width, "d_model": channels})
