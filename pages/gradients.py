"""Gradient lab: ||dh_t/dh_k|| vanishing or exploding, its bound, clipping, truncated BPTT, gated cells."""

import json
from dataclasses import asdict

import numpy as np
import streamlit as st

from models import gradient_training as gt
from models import gradients as g
from models.checkpoint import load_weights
from models.engine import Trainer
from pages import _ui
from viz.gradients import (
    cell_accuracy_figure,
    cell_profile_figure,
    decay_figure,
    eigenvalue_figure,
    grad_norm_figure,
    jacobian_heatmap,
    probe_heatmap,
)
from viz.training import history_curves

ACTIVATIONS = list(g.NONLINEARITIES)
SCALINGS = {"singular": "largest singular value beta_w", "radius": "spectral radius"}

ANALYSIS_PRESETS = {
    "vanishing": {"gr_scale": 0.8, "gr_act": "tanh", "gr_init": "orthogonal", "gr_scaling": "singular"},
    "exploding": {"gr_scale": 1.5, "gr_act": "relu", "gr_init": "orthogonal", "gr_scaling": "singular"},
    "fixes": {"gr_scale": 1.0, "gr_act": "relu", "gr_init": "orthogonal", "gr_scaling": "singular"},
}
TRAIN_PRESETS = {
    "vanishing": gt.PRESETS["vanishing"],
    "exploding": gt.PRESETS["exploding"],
    "fixes": gt.PRESETS["clipping"],
    "explode": gt.PRESETS["exploding"],
    "explode_clipped": gt.PRESETS["clipping"],
    "truncation": gt.PRESETS["truncation"],
    "lstm": gt.PRESETS["lstm"],
}


def train_state(run: gt.GradientRun) -> dict:
    return {
        "gr_cell": run.cell,
        "gr_gap": run.gap,
        "gr_train_act": run.nonlinearity,
        "gr_wscale": run.w_scale if run.w_scale is not None else 0.0,
        "gr_opt": run.optimizer,
        "gr_lr": run.lr,
        "gr_steps": run.steps,
        "gr_clip_on": run.clip_norm is not None,
        "gr_clip": run.clip_norm or 1.0,
        "gr_tbptt_on": run.tbptt_window is not None,
        "gr_window": run.tbptt_window or 10,
    }


def apply_preset(name: str) -> None:
    st.session_state.update(ANALYSIS_PRESETS.get(name, {}))
    st.session_state.update(train_state(TRAIN_PRESETS[name]))
    st.session_state.pop("gr_trainer", None)


@st.cache_data(show_spinner=False, max_entries=32)
def analyse(H: int, T: int, scale: float, scaling: str, init: str, act: str, norm: str, seed: int) -> dict:
    """The analysis view's numbers (cached per setting): map, profiles, spectrum, rates."""
    W, U, b = g.make_weights(H, 4, scale, init=init, scaling=scaling, seed=seed)
    x = g.random_inputs(T, 4, seed=seed)
    stride = g.plan_map(T, H, norm)
    jmap = g.jacobian_norm_map(W, U, b, x, nonlinearity=act, norm=norm, k_stride=stride)
    lags, profile = g.lag_profile(jmap.norms, jmap.ks)
    rate = g.growth_rate(lags, profile)
    bw = g.beta_w(W)
    return {
        "norms": jmap.norms,
        "ks": jmap.ks,
        "stride": stride,
        "lags": lags,
        "profile": profile,
        "last": g.last_step_profile(W, U, b, x, nonlinearity=act, norm=norm),
        "rate": rate,
        "regime": g.regime(rate),
        "beta_w": bw,
        "bound_rate": bw * g.BETA_H[act],
        "eigenvalues": g.eigenvalues(W),
    }


@st.cache_data(show_spinner=False)
def comparison() -> dict | None:
    path = _ui.ASSETS / gt.COMPARISON_FILE
    return json.loads(path.read_text()) if path.exists() else None


@st.cache_data(show_spinner=False)
def pretrained_profiles() -> dict:
    profiles = {}
    for cell in ("rnn", "lstm", "gru"):
        name = gt.checkpoint_name(cell)
        if not (_ui.ASSETS / name).exists():
            continue
        checkpoint = _ui.cached_checkpoint(name)
        run = gt.GradientRun(**checkpoint.config)
        model = load_weights(gt.build_model(run), checkpoint, source=f"{cell} checkpoint")
        profiles[cell] = gt.profile_along_time(model, run)
    return profiles


_ui.lab_header(
    "Vanishing and exploding gradients",
    "RNN training > BPTT: gradient computation, Exploding and vanishing gradients, Challenges & solutions",
    "Backpropagation through time multiplies one Jacobian per step: "
    "$\\frac{\\partial h_t}{\\partial h_k} = \\prod_{j=k+1}^{t} \\mathrm{diag}(f'(a_j))\\, W$ with "
    "$a_j = U x_j + W h_{j-1} + b$, so\n\n$$\\|\\partial h_t / \\partial h_k\\| \\le (\\beta_w \\beta_h)^{t-k}$$\n\n"
    "($\\beta_w$ = largest singular value of W, $\\beta_h$ = max of $|f'|$: tanh 1, sigmoid 0.25, ReLU 1).",
)
st.caption(
    "The slide writes the per-step Jacobian as W^T diag[f'(h_{j-1})]: that is the transpose of diag(f'(a_j)) W "
    "(a gradient laid out as a column), with f' taken at step j's pre-activation a_j. Transposing changes no "
    "norm, so the plots are the same either way; this lab computes the exact form."
)
preset_cols = st.columns(3)
preset_cols[0].button(
    "Lecture: vanishing (beta_w beta_h < 1)", on_click=apply_preset, args=("vanishing",), icon=":material/slideshow:"
)
preset_cols[1].button(
    "Lecture: exploding (beta_w beta_h > 1)", on_click=apply_preset, args=("exploding",), icon=":material/slideshow:"
)
preset_cols[2].button(
    "Lecture: the fixes (clipping, gates)", on_click=apply_preset, args=("fixes",), icon=":material/slideshow:"
)

jac_tab, train_tab, cells_tab = st.tabs(
    ["Jacobians ||dh_t/dh_k||", "Training: clipping & truncation", "RNN vs LSTM vs GRU"]
)

with jac_tab, _ui.user_errors():
    c1, c2, c3 = st.columns(3)
    scale = c1.slider("Scale of W", 0.5, 2.0, 1.0, step=0.05, key="gr_scale", bind="query-params")
    act = c2.selectbox("Activation f", ACTIVATIONS, key="gr_act", bind="query-params")
    T = c3.slider("Sequence length T", 2, 200, 100, key="gr_T", bind="query-params")
    c4, c5, c6 = st.columns(3)
    H = c4.slider("Hidden size H", 2, 128, 64, key="gr_H", bind="query-params")
    init = c5.selectbox("Initialisation of W", g.INITS, index=1, key="gr_init", bind="query-params")
    scaling = c6.selectbox(
        "Scale sets the", list(SCALINGS), format_func=SCALINGS.get, key="gr_scaling", bind="query-params"
    )
    with _ui.secondary_controls():
        norm = st.selectbox("Matrix norm", g.NORMS, key="gr_norm", bind="query-params")
    result = analyse(H, T, scale, scaling, init, act, norm, _ui.global_seed())
    note = ""
    if result["stride"] > 1:
        note = f"<br>every {result['stride']}th k (the full map at this size would exceed the page's time budget)"
    regime = result["regime"]
    bound_regime = g.regime(result["bound_rate"], tolerance=1e-6)
    st.markdown(
        f"beta_w = **{result['beta_w']:.3g}**, beta_h = **{g.BETA_H[act]:g}**, so the bound's base "
        f"beta_w beta_h = **{result['bound_rate']:.3g}** ({bound_regime} by the bound). Measured: the norm changes "
        f"by a factor **{result['rate']:.3g}** per step back in time: **{regime}**."
    )
    left, right = st.columns([3, 2])
    with left:
        _ui.show_figure(jacobian_heatmap(result["norms"], result["ks"], norm, note), key="gr_heatmap")
    with right:
        _ui.show_figure(eigenvalue_figure(result["eigenvalues"], result["beta_w"], g.BETA_H[act]), key="gr_eigs")
    _ui.show_figure(
        decay_figure(
            result["lags"], result["profile"], result["bound_rate"], result["rate"], regime, norm, result["last"]
        ),
        key="gr_decay",
    )
    st.caption(
        "The bound holds for every pair; the measured decay is usually faster, because f'(a_j) < beta_h wherever "
        "a unit saturates (tanh, sigmoid) or is off (ReLU)."
    )
    settings = {
        "H": H,
        "T": T,
        "scale": scale,
        "scaling": scaling,
        "init": init,
        "activation": act,
        "norm": norm,
        "seed": _ui.global_seed(),
        "k_stride": result["stride"],
    }
    _ui.export_buttons(
        "gradients_jacobians",
        {
            "norms": result["norms"],
            "ks": result["ks"],
            "last_step": result["last"],
            "eigenvalues": result["eigenvalues"],
        },
        settings,
        csv=("norms", result["norms"]),
    )

with train_tab, _ui.user_errors():
    st.markdown(
        "A recurrent network reads a symbol, then **gap** distractors, and must output the first symbol "
        "(the RNN lab's long-range task, with a marker on the first step). The loss sits at the last step, "
        "so ||dL/dh_k|| shows how far back the gradient reaches."
    )
    b1, b2, b3, b4 = st.columns(4)
    b1.button("Explode (no clipping)", on_click=apply_preset, args=("explode",), icon=":material/bolt:")
    b2.button("Explode + clipping", on_click=apply_preset, args=("explode_clipped",), icon=":material/content_cut:")
    b3.button("Truncated BPTT", on_click=apply_preset, args=("truncation",), icon=":material/content_cut:")
    b4.button("LSTM", on_click=apply_preset, args=("lstm",), icon=":material/memory:")
    t1, t2, t3 = st.columns(3)
    cell = t1.selectbox("Cell", ("rnn", "lstm", "gru"), key="gr_cell", bind="query-params")
    gap = t2.slider("Gap (dependency length)", 2, 100, 30, key="gr_gap", bind="query-params")
    steps = t3.slider("Steps", 20, 2000, 300, step=20, key="gr_steps", bind="query-params")
    t4, t5, t6 = st.columns(3)
    clip_on = t4.toggle("Clip the gradient norm", key="gr_clip_on", bind="query-params")
    clip = t4.select_slider(
        "Clipping threshold", [0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0], value=1.0, key="gr_clip", bind="query-params"
    )
    tbptt_on = t5.toggle("Truncated BPTT", key="gr_tbptt_on", bind="query-params")
    window = t5.slider("Window k (steps)", 1, 100, 10, key="gr_window", bind="query-params")
    optimizer = t6.selectbox("Optimizer", gt.OPTIMIZERS, key="gr_opt", bind="query-params")
    lr = t6.select_slider(
        "Learning rate",
        [1e-4, 1e-3, 3e-3, 1e-2, 2e-2, 5e-2, 0.1, 0.5, 1.0],
        value=2e-2,
        key="gr_lr",
        bind="query-params",
    )
    with _ui.secondary_controls("Cell settings"):
        train_act = st.selectbox("Vanilla RNN activation", ("tanh", "relu"), key="gr_train_act", bind="query-params")
        w_scale = st.slider(
            "Initial scale of W (0 = torch's default)", 0.0, 3.0, 0.0, step=0.1, key="gr_wscale", bind="query-params"
        )

    run = gt.GradientRun(
        cell=cell,
        gap=gap,
        nonlinearity=train_act,
        w_scale=w_scale or None,
        steps=steps,
        lr=lr,
        optimizer=optimizer,
        clip_norm=clip if clip_on else None,
        tbptt_window=window if tbptt_on else None,
        seed=_ui.global_seed(),
    ).validate()

    def make_trainer() -> Trainer:
        return gt.make_trainer(run, device=_ui.device())

    def render(trainer: Trainer) -> None:
        history = trainer.history
        steps_seen, matrix = history.probe_matrix(gt.PROBE)
        window_used = trainer.config.tbptt_window
        if matrix.size:
            _ui.show_figure(probe_heatmap(steps_seen, matrix, window_used), key="gr_probe")
        left, right = st.columns(2)
        with left:
            _ui.show_figure(
                grad_norm_figure(history.column("step"), history.column("grad_norm"), trainer.config.clip_norm),
                key="gr_gradnorm",
            )
        with right:
            curves = history_curves(history, "accuracy", f"Recall of the first symbol (chance {run.chance:.0%})")
            _ui.show_figure(curves, key="gr_curves")
        _ui.export_buttons(
            "gradients_training",
            {
                "probe_steps": steps_seen,
                "probe_grad_norms": matrix,
                "grad_norm": history.column("grad_norm"),
                "loss": history.column("loss"),
            },
            asdict(run),
        )

    _ui.live_training("gr", make_trainer, render)
    if "gr_trainer" not in st.session_state:
        st.info(
            "Press **Train live**. Try the **Explode** preset, then the same with clipping.", icon=":material/info:"
        )

with cells_tab, _ui.user_errors():
    data = comparison()
    if data is None:
        st.warning("No pretrained comparison found in assets/; run `make pretrain`.")
    else:
        st.markdown(
            f"Each cell was trained from the same seed for {data['run']['steps']} steps (hidden size "
            f"{data['run']['hidden_size']}, Adam lr {data['run']['lr']}) at each gap; LSTM forget and GRU keep gates "
            f"start with bias +{data['run']['gate_bias']:g}, so their gated path starts open."
        )
        _ui.show_figure(cell_accuracy_figure(data["gaps"], data["accuracy"], data["chance"]), key="gr_cells_acc")
        profiles = pretrained_profiles()
        if profiles:
            _ui.show_figure(cell_profile_figure(profiles), key="gr_cells_profile")
            st.caption(
                "The LSTM's cell path C_{t-1} -> C_t is only elementwise: dC_t/dC_k contains prod f_j, no product of "
                "W, the lecture's 'uninterrupted gradient flow'."
            )
        _ui.export_buttons("gradients_cells", {"gaps": np.array(data["gaps"])}, data)
