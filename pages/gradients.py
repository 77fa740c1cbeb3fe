"""Gradient lab: ||dh_t/dh_k|| vanishing or exploding, its bound, clipping, truncated BPTT, gated cells."""

import json

import numpy as np
import streamlit as st

from models.blocks.recurrent import CELLS, PROBE
from models.core.engine import TrainConfig
from models.labs.gradients import jacobians
from models.labs.gradients.pretrain import COMPARISON_FILE, checkpoint_name, model_from_checkpoint
from models.labs.gradients.spec import GradientRun, build_trainer, profile_along_time
from pages import _ui
from pages._controls import Control, Controls
from viz import gradients as figures
from viz.training import history_curves

SCALINGS = {"singular": "largest singular value beta_w", "radius": "spectral radius"}
RNN_30 = {"gr_cell": "rnn", "gr_gap": 30, "gr_steps": 300}
EXPLODING = RNN_30 | {"gr_train_act": "relu", "gr_wscale": 2.0, "gr_opt": "sgd", "gr_lr": 0.05}
CONTROLS = Controls(
    [
        Control("gr_scale", "Scale of W", 1.0, bounds=(0.5, 2.0, 0.05)),
        Control("gr_act", "Activation f", "tanh", "selectbox", jacobians.NONLINEARITIES),
        Control("gr_T", "Sequence length T", 100, bounds=(2, 200, 1)),
        Control("gr_H", "Hidden size H", 64, bounds=(2, 128, 1)),
        Control("gr_init", "Initialisation of W", "orthogonal", "selectbox", jacobians.INITS),
        Control("gr_scaling", "Scale sets the", "singular", "selectbox", tuple(SCALINGS), format=SCALINGS.get),
        Control("gr_norm", "Matrix norm", "spectral", "selectbox", jacobians.NORMS),
        Control("gr_cell", "Cell", "rnn", "selectbox", CELLS),
        Control("gr_gap", "Gap (dependency length)", 30, bounds=(2, 100, 1)),
        Control("gr_steps", "Steps", 300, bounds=(20, 2000, 20)),
        Control(
            "gr_clip", "Clip the gradient norm at", "off", "select_slider", ("off", 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0)
        ),
        Control("gr_window", "Truncated BPTT window k (0 = full BPTT)", 0, bounds=(0, 100, 1)),
        Control("gr_opt", "Optimizer", "adam", "selectbox", ("sgd", "adam")),
        Control("gr_lr", "Learning rate", 2e-2, "select_slider", (1e-4, 1e-3, 3e-3, 1e-2, 2e-2, 5e-2, 0.1, 0.5, 1.0)),
        Control("gr_train_act", "Vanilla RNN activation", "tanh", "selectbox", ("tanh", "relu")),
        Control("gr_wscale", "Initial scale of W (0 = torch's default)", 0.0, bounds=(0.0, 3.0, 0.1)),
    ],
    presets={
        "vanishing (beta_w beta_h < 1)": {"gr_scale": 0.8, "gr_act": "tanh"} | RNN_30 | {"gr_wscale": 0.6},
        "exploding (beta_w beta_h > 1)": {"gr_scale": 1.5, "gr_act": "relu"} | EXPLODING,
        "the fixes (clipping, gates)": {"gr_act": "relu"} | EXPLODING | {"gr_clip": 1.0},
        "Explode (no clipping)": EXPLODING,
        "Explode + clipping": EXPLODING | {"gr_clip": 1.0},
        "Truncated BPTT": RNN_30 | {"gr_window": 10},
        "LSTM": RNN_30 | {"gr_cell": "lstm"},
    },
    clears=("gr_trainer",),
)


@st.cache_data(show_spinner=False, max_entries=32)
def analyse(*setting) -> jacobians.JacobianAnalysis:
    return jacobians.analyse(*setting)


@st.cache_data(show_spinner=False)
def comparison() -> dict | None:
    path = _ui.ASSETS / COMPARISON_FILE
    return json.loads(path.read_text()) if path.exists() else None


@st.cache_data(show_spinner=False)
def pretrained_profiles() -> dict:
    profiles = {}
    for cell in CELLS:
        if (_ui.ASSETS / checkpoint_name(cell)).exists():
            model, run = model_from_checkpoint(_ui.cached_checkpoint(checkpoint_name(cell)), f"{cell} checkpoint")
            profiles[cell] = profile_along_time(model, run)
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
CONTROLS.preset_buttons("gr", tuple(CONTROLS.presets)[:3])
CONTROLS.init()

jac_tab, train_tab, cells_tab = st.tabs(
    ["Jacobians ||dh_t/dh_k||", "Training: clipping & truncation", "RNN vs LSTM vs GRU"]
)

with jac_tab, _ui.user_errors():
    c1, c2, c3 = st.columns(3)
    c4, c5, c6 = st.columns(3)
    scale, act, T = (CONTROLS.show(key, c) for key, c in (("gr_scale", c1), ("gr_act", c2), ("gr_T", c3)))
    H, init, scaling = (CONTROLS.show(key, c) for key, c in (("gr_H", c4), ("gr_init", c5), ("gr_scaling", c6)))
    with _ui.secondary_controls():
        norm = CONTROLS.show("gr_norm")
    result = analyse(H, T, scale, scaling, init, act, norm, _ui.global_seed())
    note = ""
    if result.stride > 1:
        note = f"<br>every {result.stride}th k (the full map at this size would exceed the page's time budget)"
    bound_regime = jacobians.regime(result.bound_rate, tolerance=1e-6)
    st.markdown(
        f"beta_w = **{result.beta_w:.3g}**, beta_h = **{result.beta_h:g}**, so the bound's base "
        f"beta_w beta_h = **{result.bound_rate:.3g}** ({bound_regime} by the bound). Measured: the norm changes "
        f"by a factor **{result.rate:.3g}** per step back in time: **{result.regime}**."
    )
    left, right = st.columns([3, 2])
    with left:
        _ui.show_figure(figures.jacobian_heatmap(result.norms, result.ks, norm, note), key="gr_heatmap")
    with right:
        _ui.show_figure(figures.eigenvalue_figure(result.eigenvalues, result.beta_w, result.beta_h), key="gr_eigs")
    figure = figures.decay_figure(
        result.lags, result.profile, result.bound_rate, result.rate, result.regime, norm, result.last
    )
    _ui.show_figure(figure, key="gr_decay")
    st.caption(
        "The bound holds for every pair; the measured decay is usually faster, because f'(a_j) < beta_h wherever "
        "a unit saturates (tanh, sigmoid) or is off (ReLU)."
    )
    settings = {"H": H, "T": T, "scale": scale, "scaling": scaling, "init": init, "activation": act, "norm": norm}
    arrays = {"norms": result.norms, "ks": result.ks, "last_step": result.last, "eigenvalues": result.eigenvalues}
    settings |= {"seed": _ui.global_seed(), "k_stride": result.stride}
    _ui.export_buttons("gradients_jacobians", arrays, settings, csv=("norms", result.norms))

with train_tab, _ui.user_errors():
    st.markdown(
        "A recurrent network reads a symbol, then **gap** distractors, and must output the first symbol "
        "(the RNN lab's long-range task, with a marker on the first step). The loss sits at the last step, "
        "so ||dL/dh_k|| shows how far back the gradient reaches."
    )
    CONTROLS.preset_buttons("gr", tuple(CONTROLS.presets)[3:], label="")
    t = st.columns(3) + st.columns(3)
    keys = ("gr_cell", "gr_gap", "gr_steps", "gr_clip", "gr_window", "gr_opt")
    cell, gap, steps, clip, window, optimizer = (
        CONTROLS.show(key, column) for key, column in zip(keys, t, strict=True)
    )
    lr = CONTROLS.show("gr_lr", t[5])
    with _ui.secondary_controls("Cell settings"):
        train_act, w_scale = CONTROLS.show("gr_train_act"), CONTROLS.show("gr_wscale")
    train = TrainConfig(
        steps=steps,
        lr=lr,
        optimizer=optimizer,
        clip_norm=None if clip == "off" else clip,
        tbptt_window=window or None,
        seed=_ui.global_seed(),
    )
    run = GradientRun(cell=cell, gap=gap, nonlinearity=train_act, w_scale=w_scale or None, train=train)

    def render(trainer) -> None:
        history = trainer.history
        steps_seen, matrix = history.probe_matrix(PROBE)
        if matrix.size:
            _ui.show_figure(figures.probe_heatmap(steps_seen, matrix, trainer.config.tbptt_window), key="gr_probe")
        left, right = st.columns(2)
        with left:
            figure = figures.grad_norm_figure(history["step"], history["grad_norm"], trainer.config.clip_norm)
            _ui.show_figure(figure, key="gr_gradnorm")
        with right:
            title = f"Recall of the first symbol (chance {run.chance:.0%})"
            _ui.show_figure(history_curves(history, "accuracy", title), key="gr_curves")
        arrays = {"probe_steps": steps_seen, "probe_grad_norms": matrix, "grad_norm": history["grad_norm"]}
        _ui.export_buttons("gradients_training", arrays | {"loss": history["loss"]}, {"cell": cell, "gap": gap})

    _ui.live_training("gr", lambda: build_trainer(run, _ui.device()), render)
    if "gr_trainer" not in st.session_state:
        st.info(
            "Press **Train live**. Try the **Explode** preset, then the same with clipping.", icon=":material/info:"
        )

with cells_tab, _ui.user_errors():
    data = comparison()
    if data is None:
        st.warning("No pretrained comparison found in assets/; run `make pretrain`.")
    else:
        base = data["run"]
        st.markdown(
            f"Each cell was trained from the same seed for {base['train']['steps']} steps (hidden size "
            f"{base['hidden_size']}, Adam lr {base['train']['lr']}) at each gap; LSTM forget and GRU keep gates "
            f"start with a total bias b_U + b_W of +{base['gate_bias']:g}, so their gated path starts open."
        )
        figure = figures.cell_accuracy_figure(data["gaps"], data["accuracy"], data["chance"])
        _ui.show_figure(figure, key="gr_cells_acc")
        profiles = pretrained_profiles()
        if profiles:
            _ui.show_figure(figures.cell_profile_figure(profiles), key="gr_cells_profile")
            st.caption(
                "The LSTM's cell path C_{t-1} -> C_t is only elementwise: dC_t/dC_k contains prod f_j, no product of "
                "W, the lecture's 'uninterrupted gradient flow'."
            )
        _ui.export_buttons("gradients_cells", {"gaps": np.array(data["gaps"])}, data)
