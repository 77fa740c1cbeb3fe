"""Positional-encoding lab: the lecture's sinusoidal P, K = P P^T, learned vs sinusoidal, 2D PE."""

import streamlit as st

from models.blocks.positional import POSITIONAL_KINDS, sinusoidal_encoding, sinusoidal_encoding_2d
from models.core.engine import TrainConfig
from models.labs.positional.analysis import encoding_view
from models.labs.positional.pretrain import checkpoint_path, model_from_checkpoint
from models.labs.positional.spec import D_MODEL, TASK, PositionalRun, build_trainer
from pages import _ui
from pages._controls import LEARNING_RATES, Control, Controls
from viz import positional as figures
from viz.training import history_curves

CONTROLS = Controls(
    [
        Control("pe_d", "d_model (dimensions of p_t)", 128, bounds=(2, 1024, 2)),
        Control("pe_len", "Number of positions", 50, bounds=(1, 2048, 1)),
        Control("pe_base", "Base of the frequencies", 10000.0, "number", bounds=(1.0, 1e6, 1000.0)),
        Control("pe_norm", "Show K / (d/2), the cosine similarity, in [-1, 1]", False, "toggle"),
        Control("pe_train_kind", "Positional encoding", "learned", "selectbox", POSITIONAL_KINDS),
        Control("pe_train_steps", "Steps", 600, bounds=(50, 3000, 50)),
        Control("pe_train_lr", "Learning rate", 3e-3, "select_slider", LEARNING_RATES),
        Control("pe2d_h", "Height", 16, bounds=(2, 64, 1)),
        Control("pe2d_w", "Width", 16, bounds=(2, 64, 1)),
        Control("pe2d_d", "Channels d", 64, bounds=(4, 256, 4)),
    ],
    presets={"d = 128, 50 positions": {}},
)


@st.cache_resource(show_spinner=False)
def pretrained_comparison():
    """The pretrained learned table, the sinusoidal one and their similarity figure: the same for every session and
    every rerun, so built once per server (a slider moved on this page redraws the rest faster)."""
    sinusoid_table = sinusoidal_encoding(TASK.length, D_MODEL).numpy()
    checkpoint = _ui.cached_checkpoint(checkpoint_path(_ui.ASSETS, "learned").name)
    learned_table = model_from_checkpoint(checkpoint, "learned checkpoint").positional_table(TASK.length).numpy()
    return (
        sinusoid_table,
        learned_table,
        figures.learned_vs_sinusoidal(learned_table, sinusoid_table, "learned (pretrained)"),
    )


@st.cache_resource(show_spinner=False, max_entries=64)
def encoding_2d(height: int, width: int, channels: int, reference: tuple[int, int]):
    """The 2D encoding of a feature map and its figure, built once per setting for every session."""
    P2 = sinusoidal_encoding_2d(height, width, channels).numpy()
    quarter = channels // 4
    shown = [0, 2 * (quarter // 2), channels // 2, channels // 2 + 2 * (quarter // 2)]
    return P2, figures.encoding_2d_figure(P2, reference, list(dict.fromkeys(shown)))


def encoding_figures(d_model: int, length: int, base: float, normalised: bool) -> None:
    """The lecture's P (sinusoidal encoding), K = P P^T and the offset profile p_i . p_(i+k) = sum_k cos(w_k k)."""
    view = encoding_view(length, d_model, base, normalised)
    st.markdown(
        f"Every entry of P lies in [-1, 1] (here from {view.P.min():.3f} to {view.P.max():.3f}); each p_t has squared "
        f"norm K[t, t] = d/2 = **{d_model / 2:g}**, so K / (d/2) is the cosine similarity, also in [-1, 1]."
    )
    heat_left, heat_right = st.columns(2)
    with heat_left:
        how = (
            "Row t is the vector p_t added to the t-th token (positions from 0), column j one of its dimensions "
            "(j = 2k: sin, 2k + 1: cos of w_k t). Left columns oscillate fast, right ones slowly: every position "
            "gets its own pattern, like the digits of a binary counter."
        )
        _ui.show_figure(figures.encoding_heatmap(view.P, base), "pe_encoding", how)
    with heat_right:
        title = "Positional similarity K / (d/2)" if normalised else "Positional similarity K = P P^T"
        how = (
            "K[i, j] = p_i . p_j: bright on the diagonal (a position is most similar to itself), fading with |i - j| "
            "along bands parallel to it: the similarity depends only on the offset, not on where the pair sits."
        )
        _ui.show_figure(figures.similarity_heatmap(view.K_shown, title, normalised), "pe_similarity", how)
    how = (
        "p_i . p_(i+k) = sum_k [sin(w_k i) sin(w_k (i+k)) + cos(w_k i) cos(w_k (i+k))] = sum_k cos(w_k k): the "
        "curves for different start positions i lie on this closed form. Attention can read relative position."
    )
    _ui.show_figure(figures.offset_profile_figure(view.profiles, view.closed_form, normalised), "pe_profile", how)
    settings = {"d_model": d_model, "positions": length, "base": base, "normalised": normalised}
    _ui.export_buttons("positional_encoding", {"P": view.P, "K": view.K}, settings, csv=("K", view.K))


@st.fragment
def sinusoid_view() -> None:
    """The first tab with the controls only it reads: a fragment, so a moved slider redraws these charts alone."""
    d_model, length, base = CONTROLS.row("pe_d", "pe_len", "pe_base")
    with _ui.secondary_controls():
        normalised = CONTROLS.show("pe_norm")
    with _ui.user_errors():
        encoding_figures(d_model, length, base, normalised)


_ui.lab_header(
    "Positional encoding",
    "Transformer block > Positional encoding, Sinusoidal positional encoding",
    "Self-attention sees a **set** of tokens: without a positional encoding it cannot tell their order. The "
    "lecture's encoding gives position t the vector $p_t$ with $p_t(2k) = \\sin(\\omega_k t)$, "
    "$p_t(2k+1) = \\cos(\\omega_k t)$, $\\omega_k = 1 / \\text{base}^{2k/d}$. Here positions count from "
    "t = 0 and frequencies from k = 0 to d/2 - 1 (the slides do not fix where the indices start).",
)
CONTROLS.preset_buttons("pe", label="Lecture figure")
CONTROLS.init()

sinusoid_tab, learned_tab, image_tab = st.tabs(["P and K = P P^T", "Learned vs sinusoidal", "2D encoding for images"])

with sinusoid_tab:
    sinusoid_view()

with learned_tab, _ui.user_errors():
    st.markdown(
        f"A one-layer transformer reads {TASK.length} random tokens (vocabulary {TASK.vocab_size}) and must output, "
        f"at every position t, the token seen **{TASK.offset} steps earlier**. Only a positional encoding lets it "
        f"know which token that is: without one it scores near chance ({1 / TASK.vocab_size:.0%} to about 25%)."
    )
    sinusoid_table, learned_table, figure = pretrained_comparison()
    how = (
        "Cosine similarity of every pair of positions. The learned embeddings solve the task while staying nearly "
        "orthogonal: the model only needs to tell positions apart and read an offset through W_q and W_k. The "
        "sinusoidal encoding builds distance in by construction (the band along the diagonal) and extends to lengths "
        "never trained on."
    )
    _ui.show_figure(figure, "pe_learned_pretrained", how)
    _ui.export_buttons(
        "positional_learned_vs_sinusoidal",
        {"learned_P": learned_table, "sinusoidal_P": sinusoid_table},
        {"task": "offset copy", **vars(TASK), "d_model": D_MODEL, "learned": "pretrained checkpoint"},
    )

    st.subheader("Train it yourself")
    col_kind, col_steps, col_lr = st.columns(3)
    kind = CONTROLS.show("pe_train_kind", col_kind)
    train = TrainConfig(
        steps=CONTROLS.show("pe_train_steps", col_steps),
        lr=CONTROLS.show("pe_train_lr", col_lr),
        seed=_ui.global_seed(),
    )

    def render(trainer) -> None:
        title = f"Offset copy with {trainer.model.positional_kind} positional encoding"
        _ui.show_figure(history_curves(trainer.history, "accuracy", title), key="pe_train_curves")
        if trainer.model.positional_kind == "learned":
            table = trainer.model.positional_table(TASK.length).cpu().numpy()
            figure = figures.learned_vs_sinusoidal(table, sinusoid_table, f"learned (step {trainer.step})")
            _ui.show_figure(figure, key="pe_train_similarity")

    chance = ("accuracy", 1 / TASK.vocab_size)
    _ui.live_training("pe", lambda: build_trainer(PositionalRun(kind, train), _ui.device()), render, chance=chance)

with image_tab, _ui.user_errors():
    st.markdown(
        "For an image feature map, half of the channels encode the column x and half the row y "
        "(used by the U-Transformer's bottleneck attention)."
    )
    height, width, channels = CONTROLS.row("pe2d_h", "pe2d_w", "pe2d_d")
    col_y, col_x = st.columns(2)
    ref_y = col_y.slider("Reference pixel y", 0, height - 1, height // 2)
    ref_x = col_x.slider("Reference pixel x", 0, width - 1, width // 2)
    P2, figure = encoding_2d(height, width, channels, (ref_y, ref_x))
    how = (
        "A few channels of the 2D encoding over the grid (first half: the column x, second half: the row y), and "
        "the similarity of every pixel to the reference pixel: it falls off with distance in both directions."
    )
    _ui.show_figure(figure, "pe_2d", how)
    _ui.export_buttons("positional_encoding_2d", {"P2d": P2}, {"height": height, "width": width, "d_model": channels})
