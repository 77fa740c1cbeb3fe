"""Gradient lab: ||dh_t/dh_k|| vanishing or exploding, its bound, clipping, truncated BPTT, gated cells."""

import json
from dataclasses import replace

import numpy as np
import streamlit as st

from models.blocks.recurrent import CELLS, PROBE
from models.core.engine import TrainConfig
from models.labs.gradients import jacobians
from models.labs.gradients.pretrain import (
    COMPARISON,
    COMPARISON_FILE,
    checkpoint_name,
    initial_keep_biases,
    model_from_checkpoint,
    solved_summary,
)
from models.labs.gradients.spec import GradientRun, build_trainer, profile_along_time
from pages import _ui
from pages._controls import Control, Controls
from viz import gradients as figures
from viz.training import history_curves

SCALINGS = {"singular": "largest singular value beta_w", "radius": "spectral radius"}
RNN_30 = {"gr_cell": "rnn", "gr_gap": 30, "gr_steps": 300}
EXPLODING = RNN_30 | {"gr_train_act": "relu", "gr_wscale": 1.35, "gr_opt": "sgd", "gr_lr": 1.0}
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
        Control("gr_wscale", "Initial scale of W (0 = torch's default)", 0.0, bounds=(0.0, 3.0, 0.05)),
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
    scale, act, T = CONTROLS.row("gr_scale", "gr_act", "gr_T")
    H, init, scaling = CONTROLS.row("gr_H", "gr_init", "gr_scaling")
    with _ui.secondary_controls():
        norm = CONTROLS.show("gr_norm")
    result = analyse(H, T, scale, scaling, init, act, norm, _ui.global_seed())
    note = ""
    if result.stride > 1:
        note = f"<br>every {result.stride}th k (the full map at this size would exceed the page's time budget)"
    proof = (
        "Below 1, the bound proves that the gradient vanishes at least that fast."
        if result.bound_proves_vanishing
        else "At or above 1 it proves nothing: it is an upper bound, and the gradient may still vanish."
    )
    left, right = st.columns([3, 2])
    with left:
        how = (
            "Row t, column k: log10 ||dh_t/dh_k||, the gradient that flows from step t back to step k; the "
            "diagonal is 0 (dh_k/dh_k = I). Blue far from the diagonal: it vanishes with the distance t - k; red: "
            "it explodes."
        )
        _ui.show_figure(figures.jacobian_heatmap(result.norms, result.ks, norm, note), "gr_heatmap", how)
    with right:
        how = (
            "W's eigenvalues; the bound uses beta_w, its largest singular value, which is at least the largest "
            "|eigenvalue| and can be far larger (see the note below)."
        )
        _ui.show_figure(figures.eigenvalue_figure(result.eigenvalues, result.beta_w, result.beta_h), "gr_eigs", how)
    st.markdown(
        f"beta_w = **{result.beta_w:.3g}**, beta_h = **{result.beta_h:g}**: the bound's base beta_w beta_h = "
        f"**{result.bound_rate:.3g}**. {proof} Measured: the norm changes by a factor **{result.rate:.3g}** per step "
        f"back in time, so here the gradient is **{result.regime}** (named from the measurement)."
    )
    figure = figures.decay_figure(
        result.lags, result.profile, result.bound_rate, result.rate, result.regime, norm, result.last
    )
    how = (
        "On a log axis a geometric decay is a straight line whose slope is the per-step rate. The dashed bound must "
        "lie above the measured curve; the measured decay is faster wherever f'(a_j) < beta_h (a saturated tanh "
        "or sigmoid unit, a ReLU that is off)."
    )
    _ui.show_figure(figure, "gr_decay", how)
    excess = result.bound_ratio - 1
    st.caption(
        "The bound holds for every pair of the map."
        if excess <= 0
        else f"The bound holds for every pair up to rounding: where it is tight (an orthogonal W, units that never "
        f"saturate) the spectral norms, solved in float32, exceed it by at most {excess:.1e} relative."
    )
    example = jacobians.eigenvalue_counterexample()
    st.caption(
        f"**Eigenvalues or singular values?** The slide bounds the product with W's largest eigenvalue; the bound "
        f"needs its largest singular value beta_w. For W = [[0.5, 3], [0, 0.5]] every eigenvalue is "
        f"{example['radius']:g}, yet ||W^{example['power']}|| = {example['norm_of_power']:.2f}, far above "
        f"{example['radius']:g}^{example['power']} = {example['radius_power']:.3f} (here beta_w = "
        f"{example['beta_w']:.2f}). The two agree for a symmetric or orthogonal W."
    )
    settings = {"H": H, "T": T, "scale": scale, "scaling": scaling, "init": init, "activation": act, "norm": norm}
    arrays = {"norms": result.norms, "ks": result.ks, "last_step": result.last, "eigenvalues": result.eigenvalues}
    settings |= {"seed": _ui.global_seed(), "k_stride": result.stride}
    _ui.export_buttons("gradients_jacobians", arrays, settings, csv=("norms", result.norms))

with train_tab, _ui.user_errors():
    st.markdown(
        "A recurrent network reads a symbol, then **gap** distractors, and must output the first symbol "
        "(the RNN lab's long-range task, with a marker on the first step, and its initialisation). The loss sits at "
        "the last step, so ||dL/dh_k|| shows how far back the gradient reaches."
    )
    CONTROLS.preset_buttons("gr", tuple(CONTROLS.presets)[3:], label="")
    cell, gap, steps = CONTROLS.row("gr_cell", "gr_gap", "gr_steps")
    clip, window, optimizer, lr = CONTROLS.row("gr_clip", "gr_window", "gr_opt", "gr_lr")
    with _ui.secondary_controls("Cell settings"):
        train_act, w_scale = CONTROLS.show("gr_train_act"), CONTROLS.show("gr_wscale")
    clip_norm = None if clip == "off" else clip
    train = TrainConfig(steps, lr, optimizer, clip_norm=clip_norm, tbptt_window=window or None, seed=_ui.global_seed())
    run = GradientRun(cell=cell, gap=gap, nonlinearity=train_act, w_scale=w_scale or None, train=train)

    def start():
        """A new run; the previous one's gradient norms stay on the chart to compare (explode, then clip)."""
        previous = _ui.current_run("gr")
        if previous is not None and previous.done:
            clipped = f"clipped at {previous.config.clip_norm:g}" if previous.config.clip_norm else "no clipping"
            steps_seen, norms = previous.history["step"], previous.history["grad_norm"]
            st.session_state["gr_previous"] = (f"previous run ({clipped})", steps_seen, norms)
        return build_trainer(run, _ui.device())

    def render(trainer) -> None:
        history = trainer.history
        steps_seen, matrix = history.probe_matrix(PROBE)
        if matrix.size:
            how = (
                "Each row is one training step, each column a time step k of the input; the colour is how much "
                "gradient reaches h_k from the loss at the last step. Vanishing: it fades to the left; exploding: "
                "it grows to the left; truncation: exactly zero beyond the window."
            )
            _ui.show_figure(figures.probe_heatmap(steps_seen, matrix, trainer.config.tbptt_window), "gr_probe", how)
        previous = st.session_state.get("gr_previous")
        figure = figures.grad_norm_figure(
            history["step"], history["grad_norm"], trainer.config.clip_norm, history["loss"], previous
        )
        how = (
            "Gradient norm and loss per step on a log axis. An exploding run climbs by orders of magnitude until a "
            "value overflows (marked); with clipping by norm each step is scaled down to the threshold, so training "
            "goes on."
        )
        _ui.show_figure(figure, "gr_gradnorm", how)
        title = f"Recall of the first symbol (chance {run.chance:.0%})"
        _ui.show_figure(history_curves(history, "accuracy", title), key="gr_curves")
        arrays = {"probe_steps": steps_seen, "probe_grad_norms": matrix, "grad_norm": history["grad_norm"]}
        _ui.export_buttons("gradients_training", arrays | {"loss": history["loss"]}, {"cell": cell, "gap": gap})

    _ui.live_training("gr", start, render, chance=("accuracy", run.chance))
    if _ui.current_run("gr") is None:
        st.info(
            "Press **Train live**. Try the **Explode** preset, then the same with clipping.", icon=":material/info:"
        )

with cells_tab, _ui.user_errors():
    data = comparison()
    if data is None:
        st.warning("No pretrained comparison found in assets/; run `make pretrain`.")
    else:
        base, longest = data["run"], max(data["gaps"])
        low, high = initial_keep_biases(replace(COMPARISON, gap=longest))
        st.markdown(
            f"Each cell was trained from seeds {', '.join(map(str, data['seeds']))} for {base['train']['steps']} steps "
            f"at each gap, with the RNN "
            f"lab's recipe (hidden size {base['hidden_size']}, Adam lr {base['train']['lr']}, clipping at "
            f"{base['train']['clip_norm']:g}). LSTM and GRU start with the RNN lab's chrono initialisation: each "
            f"unit's keep-gate bias b_U + b_W is log u with u ~ U(1, T - 1), at gap {longest} from {low:.2f} to "
            f"{high:.2f}."
        )
        figure = figures.cell_accuracy_figure(data["gaps"], data["accuracy"], data["chance"])
        how = (
            "Test accuracy after training against the number of distractors between the symbol and the answer: a dot "
            "per seed, a line for their mean. The lecture predicts the vanilla RNN falls to chance as the gap grows "
            "while the gated cells hold on. " + solved_summary(data)
        )
        _ui.show_figure(figure, "gr_cells_acc", how)
        profiles = pretrained_profiles()
        if profiles:
            how = (
                f"How much of the gradient from the last step reaches step k of one input at gap {longest}, for each "
                "trained cell. The LSTM's cell path C_{t-1} -> C_t is only elementwise: dC_t/dC_k contains prod f_j, "
                "no product of W, the lecture's 'uninterrupted gradient flow'."
            )
            _ui.show_figure(figures.cell_profile_figure(profiles), "gr_cells_profile", how)
        _ui.export_buttons("gradients_cells", {"gaps": np.array(data["gaps"])}, data)
