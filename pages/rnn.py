"""RNN lab: hidden-state dynamics of vanilla RNN, LSTM and GRU on the lecture's tasks, trained live."""

from dataclasses import asdict, replace

import streamlit as st

from models.blocks.recurrent import CELL_LABELS, CELLS, MAX_LAYERS
from models.core.checkpoint import CheckpointError
from models.core.engine import TrainConfig
from models.data import lexicon
from models.labs.rnn import analysis
from models.labs.rnn.pretrain import checkpoint_path, model_from_checkpoint
from models.labs.rnn.spec import LAB_TASKS, ModelSpec, RnnRun, build_model, build_trainer, evaluate, has_pretrained
from pages import _rnn_views, _ui
from pages._controls import LEARNING_RATES, Control, Controls
from viz import rnn as figures
from viz.training import history_curves


def use_task_defaults() -> None:
    """A newly chosen task starts at its pretrained size."""
    st.session_state.update(task_defaults(st.session_state["rnn_task"]))


def task_defaults(name: str) -> dict:
    """The controls at which task ``name`` has a pretrained model: its hidden size and gap."""
    task = LAB_TASKS[name]
    return {"rnn_hidden": task.hidden_size} | ({"rnn_gap": task.params["gap"]} if "gap" in task.params else {})


CONTROLS = Controls(
    [
        Control(
            "rnn_task",
            "Task",
            "pos",
            "selectbox",
            tuple(LAB_TASKS),
            format=lambda k: LAB_TASKS[k].title,
            on_change=use_task_defaults,
        ),
        Control("rnn_cell", "Cell", "lstm", "segmented", CELLS, format=CELL_LABELS.get),
        Control("rnn_layers", "Layers", 1, bounds=(1, MAX_LAYERS, 1)),
        Control("rnn_hidden", "Hidden size H", 64, "select_slider", (4, 8, 16, 32, 64, 128, 256)),
        Control("rnn_bidir", "Bidirectional", False, "toggle"),
        Control("rnn_nonlin", "f (vanilla RNN)", "tanh", "radio", ("tanh", "relu")),
        Control("rnn_gap", "Gap T (recall task)", LAB_TASKS["recall"].params["gap"], bounds=(1, 200, 1)),
        Control("rnn_length", "Length (sum tasks)", 10, bounds=(2, 100, 1)),
        Control("rnn_steps", "Training steps", 800, bounds=(50, 5000, 50)),
        Control("rnn_lr", "Learning rate", 1e-2, "select_slider", LEARNING_RATES),
        Control("rnn_clip", "Gradient clipping (max norm)", 1.0, "select_slider", ("off", 0.1, 1.0, 10.0)),
        Control(
            "rnn_tbptt",
            "Truncated BPTT window (0 = full BPTT)",
            0,
            bounds=(0, 100, 1),
            help="Unidirectional nets on equal-length tasks only.",
        ),
        Control("rnn_word", "Your word (letters a-z)", "deep", "text"),
        Control(
            "rnn_explain",
            "Explain the class",
            None,
            "selectbox",
            (None, *range(len(lexicon.CLASSES))),
            format=lambda k: "the predicted one" if k is None else lexicon.CLASSES[k],
            bind=False,
        ),
    ],
    presets={
        "'deep' => adj": {"rnn_word": "deep", "rnn_explain": 2},
        "Computing sum": {"rnn_task": "running_sum", "rnn_hidden": 32},
        "Sum comparison": {"rnn_task": "sum_comparison", "rnn_hidden": 32},
        "Long range: RNN vs LSTM": {"rnn_task": "recall_long", "rnn_cell": "rnn", "rnn_hidden": 32, "rnn_gap": 120},
    },
)

_ui.lab_header(
    "Recurrent networks",
    "I. Recurrent Neural Networks: vanilla RNNs, expressiveness examples, grammatical analysis, LSTM, GRU, "
    "deep and bidirectional RNNs",
    "An RNN reads a sequence one token at a time and keeps a memory $h_t = f(U x_t + W h_{t-1} + b)$; the "
    "prediction is $y_t = V h_t + b_y$ at every step (many-to-many) or at the last one (many-to-one). LSTM and "
    "GRU add gates that decide what the memory keeps.",
)
CONTROLS.preset_buttons("rnn")
CONTROLS.init(task_defaults(CONTROLS.requested("rnn_task")))

keys = ("rnn_task", "rnn_cell", "rnn_layers", "rnn_hidden", "rnn_bidir")
task_name, cell, layers, hidden, bidirectional = CONTROLS.row(*keys, widths=[3, 2.6, 1.6, 2, 1.4])
with _ui.secondary_controls("Task and training settings"):
    nonlinearity, gap, length, steps = CONTROLS.row("rnn_nonlin", "rnn_gap", "rnn_length", "rnn_steps")
    lr, clip, window = CONTROLS.row("rnn_lr", "rnn_clip", "rnn_tbptt")
spec = ModelSpec(cell, hidden, layers, bidirectional, nonlinearity)
lab_task = LAB_TASKS[task_name]


def training_run(run: RnnRun, compare: bool = False) -> RnnRun:
    """``run`` with the training settings of the controls (a ValueError says what cannot train)."""
    clip_norm = None if clip == "off" else clip
    train = TrainConfig(steps=steps, lr=lr, clip_norm=clip_norm, tbptt_window=window or None, seed=_ui.global_seed())
    return replace(run, compare=compare, train=train)


def pretrained(name: str):
    checkpoint = _ui.cached_checkpoint(checkpoint_path(_ui.ASSETS, task_name, name).name)
    return model_from_checkpoint(checkpoint, f"pretrained {task_name}/{name}"), checkpoint.meta


def current_model(run: RnnRun):
    """The user's trained model if it matches the controls, else the pretrained default, else a fresh one."""
    trainer = st.session_state.get("rnn_trainer")
    if trainer is not None and st.session_state.get("rnn_trainer_of") == run:
        return trainer.model, f"your model, trained live for {trainer.step} steps"
    if has_pretrained(run):
        try:
            model, meta = pretrained(run.model.cell)
            return model.to(_ui.device()), f"pretrained ({meta['steps']} steps, test {meta['test_metric']:.1%})"
        except CheckpointError as error:
            st.warning(f"No pretrained model: {error}")
    _ui.seed_torch()
    model = build_model(run.make_task(), run.model).to(_ui.device())
    return model, "untrained (random weights): no pretrained model for these settings, press Train live"


with _ui.user_errors(stop=True):
    run = RnnRun(task_name, {k: {"gap": gap, "length": length}[k] for k in lab_task.make().knobs}, spec)
    task = run.make_task()
    model, source = current_model(run)
    st.info(f"{CELL_LABELS[cell]} on *{lab_task.title}*: {source}.", icon=":material/memory:")
    if task.memory_span:
        st.caption(
            f"Input: symbol A-D one-hot plus a channel that marks step 1; the answer is the first symbol, read after "
            f"{task.gap} random distractors (chance 25%). LSTM and GRU start with the chrono initialisation: each "
            f"unit's forget (GRU: keep) gate bias is log u, u ~ U(1, {task.gap}), so its memory starts at about u "
            "steps, and the LSTM input gate starts nearly closed. The vanilla RNN has no gate to set: its gradient "
            "through W shrinks with every step of the gap."
        )
    examples = analysis.display_examples(task)
    trace = analysis.trace_examples(model, examples)
    lengths = examples.lengths.tolist()
    index = min(st.session_state.get("rnn_example", 0), len(examples.names) - 1)
    tokens = examples.tokens[index]

states_tab, pca_tab, word_tab, train_tab, compare_tab = st.tabs(
    ["Hidden states", "Trajectories (PCA)", "Type your own word", "Train live", "RNN vs LSTM vs GRU"]
)

with states_tab, _ui.user_errors():
    v1, v2 = st.columns(2)
    v1.selectbox(
        "Input",
        range(len(examples.names)),
        key="rnn_example",
        format_func=lambda i: f"{examples.names[i]} ({examples.labels[i]})",
    )
    layer = v2.selectbox(
        "Layer", range(spec.num_layers), format_func=lambda i: f"layer {i + 1}", key=f"rnn_layer_{spec.num_layers}"
    )
    for direction in range(2 if spec.bidirectional else 1):
        view = analysis.layer_view(trace, index, layer, direction, lengths[index])
        where = f"layer {layer + 1}" + ([", forward →h_t", ", backward ←h_t"][direction] if spec.bidirectional else "")
        if view["c"] is not None:
            figure = figures.cell_and_hidden(
                view["c"], view["h"], tokens, f"LSTM cell state and hidden state ({where})"
            )
        else:
            bounded = nonlinearity == "tanh" or cell != "rnn"
            figure = figures.hidden_heatmap(
                view["h"], tokens, f"Hidden states h_t of {CELL_LABELS[cell]} ({where})", bounded=bounded
            )
        _ui.show_figure(figure, key=f"rnn_states_{direction}")
        if view["gates"]:
            with st.expander(f"Gate activations ({where})", expanded=direction == 0):
                figure = figures.gates_figure(view["gates"], tokens, f"{CELL_LABELS[cell]} gates ({where})")
                _ui.show_figure(figure, key=f"rnn_gates_{direction}")
    per_step = analysis.step_predictions(trace, index, lengths[index], task.kind)
    if task.kind == "classification":
        title = "Prediction read from h_t at every step (the many-to-one output is the last one)"
        _ui.show_figure(figures.step_probabilities(per_step, tokens, list(task.classes), title), key="rnn_step_pred")
    else:
        target = examples.targets[index][:, 0].numpy()
        figure = figures.step_regression(per_step, target, tokens, "Running sum: prediction y_t vs target")
        _ui.show_figure(figure, key="rnn_step_pred")
    view = analysis.layer_view(trace, index, layer, 0, lengths[index])
    arrays = {"h": view["h"], **({"c": view["c"]} if view["c"] is not None else {}), **view["gates"]}
    settings = {"task": task_name, **run.task_settings, **asdict(run.model), "input": examples.names[index]}
    _ui.export_buttons("rnn_states", arrays, settings | {"layer": layer + 1}, csv=("h", view["h"]))

with pca_tab, _ui.user_errors():
    p1, p2, p3 = st.columns(3)
    dims = p1.radio("Projection", [2, 3], format_func=lambda k: f"{k}D", horizontal=True, key="rnn_pca_dims")
    pca_layer = p2.selectbox(
        "Layer", range(spec.num_layers), format_func=lambda i: f"layer {i + 1}", key=f"rnn_pca_layer_{spec.num_layers}"
    )
    pca_dir = p3.radio(
        "Direction",
        range(2 if spec.bidirectional else 1),
        format_func=["forward", "backward"].__getitem__,
        horizontal=True,
        key=f"rnn_pca_dir_{int(spec.bidirectional)}",
    )
    many = analysis.display_examples(task, analysis.TRAJECTORY_SIZE)
    many_lengths = many.lengths.tolist()
    points, explained = analysis.trajectories(
        analysis.trace_examples(model, many), many_lengths, pca_layer, pca_dir, dims
    )
    title = f"Trajectories of h_t (layer {pca_layer + 1}), PCA, coloured by class"
    figure = figures.trajectory_figure(points, many_lengths, many.labels, many.names, many.tokens, explained, title)
    _ui.show_figure(figure, key="rnn_pca")
    st.caption(
        "Each line is one input read step by step; the big marker is its last step, where a many-to-one model makes "
        "its prediction. Inputs of the same class should end close together."
    )

with word_tab, _ui.user_errors():
    if task_name != "pos":
        st.info("Typing a word needs the part-of-speech task.", icon=":material/keyboard:")
        st.button("Switch to the part-of-speech task", on_click=CONTROLS.apply, args=("'deep' => adj",))
    else:
        _rnn_views.word_view(model, source, CONTROLS.show("rnn_word"), CONTROLS.show("rnn_explain"), run)

with train_tab, _ui.user_errors():
    st.markdown(
        f"Retrain the {CELL_LABELS[cell]} above from random weights (seed {_ui.global_seed()}); the default target "
        f"is a test accuracy of {lab_task.target:.0%}."
    )

    def start():
        st.session_state["rnn_trainer_of"] = run
        return build_trainer(training_run(run), _ui.device())

    def render(trainer) -> None:
        title = f"{CELL_LABELS[trainer.model.body.cell]} on {lab_task.title}"
        _ui.show_figure(history_curves(trainer.history, "accuracy", title), key="rnn_train_curves")

    trainer = _ui.live_training("rnn", start, render)
    if trainer is not None and trainer.done and st.session_state.get("rnn_trainer_of") == run:
        st.metric("Test accuracy of your model", f"{evaluate(trainer.model, task):.1%}")

with compare_tab, _ui.user_errors():
    pretrained_models = {name: pretrained(name) for name in CELLS} if has_pretrained(run) else {}
    _rnn_views.compare_view(
        pretrained_models,
        lambda: build_trainer(training_run(run, compare=True), _ui.device()),
        lab_task,
        examples,
        index,
    )
