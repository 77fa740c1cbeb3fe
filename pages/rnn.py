"""RNN lab: hidden-state dynamics of vanilla RNN, LSTM and GRU on the lecture's tasks, trained live."""

from dataclasses import replace

import streamlit as st

from models.blocks.recurrent import CELL_LABELS, CELLS, MAX_LAYERS
from models.core.checkpoint import CheckpointError
from models.core.engine import TrainConfig
from models.data import lexicon
from models.labs.rnn import analysis
from models.labs.rnn.pretrain import checkpoint_path, model_from_checkpoint
from models.labs.rnn.spec import (
    LAB_TASKS,
    ModelSpec,
    RnnRun,
    build_model,
    build_trainer,
    default_run,
    evaluate,
    has_pretrained,
)
from pages import _rnn_views, _ui
from pages._controls import LEARNING_RATES, Control, Controls
from viz.training import history_curves


def use_task_defaults() -> None:
    """A newly chosen task starts at its pretrained size."""
    st.session_state.update(task_defaults(st.session_state["rnn_task"]))


def task_note(name: str, task) -> str:
    """What the input is and how the models start, for the tasks where it is not obvious."""
    if name == "pos":
        return (
            f"Words from textblob's lexicon (33,825 to train on, 8,304 held out), read letter by letter. Training "
            f"draws them uniformly at first, then more and more as often as they occur in English text (textblob's "
            f"word counts; {task.frequency_mix:.0%} of the draws by the end): a reader meets 'deep' far more often "
            "than 'deepwater'. Held-out accuracy counts every held-out word once."
        )
    if task.memory_span:
        return (
            f"Input: symbol A-D one-hot plus a channel that marks step 1; the answer is the first symbol, read after "
            f"{task.gap} random distractors (chance 25%). LSTM and GRU start with the chrono initialisation: each "
            f"unit's forget (GRU: keep) gate bias is log u, u ~ U(1, {task.gap}), so its memory starts at about u "
            "steps, and the LSTM input gate starts nearly closed. The vanilla RNN has no gate to set: its gradient "
            "through W shrinks with every step of the gap."
        )
    return ""


def task_defaults(name: str) -> dict:
    """The controls at which task ``name`` has a pretrained model: its size, gap and training settings."""
    task = LAB_TASKS[name]
    defaults = {"rnn_task": name, "rnn_hidden": task.hidden_size, "rnn_steps": task.steps, "rnn_lr": task.lr}
    return defaults | ({"rnn_gap": task.params["gap"]} if "gap" in task.params else {})


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
        Control("rnn_hidden", "Hidden size H", 64, "select_slider", (4, 8, 16, 32, 64, 80, 128, 256)),
        Control("rnn_bidir", "Bidirectional", False, "toggle"),
        Control("rnn_nonlin", "f (vanilla RNN)", "tanh", "radio", ("tanh", "relu")),
        Control("rnn_gap", "Gap T (recall task)", LAB_TASKS["recall"].params["gap"], bounds=(1, 200, 1)),
        Control("rnn_length", "Length (sum tasks)", 10, bounds=(2, 100, 1)),
        Control("rnn_steps", "Training steps", LAB_TASKS["pos"].steps, bounds=(50, 5000, 50)),
        Control("rnn_lr", "Learning rate", LAB_TASKS["pos"].lr, "select_slider", LEARNING_RATES),
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
        "'deep' => adj": task_defaults("pos") | {"rnn_word": "deep"},
        "Computing sum": task_defaults("running_sum"),
        "Sum comparison": task_defaults("sum_comparison"),
        "Long range: RNN vs LSTM": task_defaults("recall_long") | {"rnn_cell": "rnn"},
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
CONTROLS.init({k: v for k, v in task_defaults(CONTROLS.requested("rnn_task")).items() if k != "rnn_task"})

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
    train = TrainConfig(
        steps, lr, clip_norm=clip_norm, tbptt_window=window or None, seed=_ui.global_seed(), schedule=lab_task.schedule
    )
    return replace(run, compare=compare, train=train)


def pretrained(task: str, name: str):
    """The pretrained ``name`` cell of ``task`` and its metadata."""
    checkpoint = _ui.cached_checkpoint(checkpoint_path(_ui.ASSETS, task, name).name)
    return model_from_checkpoint(checkpoint, f"pretrained {task}/{name}"), checkpoint.meta


@st.cache_resource(show_spinner=False, max_entries=64)
def pretrained_comparison(task: str, index: int) -> tuple:
    """The comparison tab's pretrained curves and h_t on display input ``index``: the same for every session, so
    built once per server, not on each full rerun of this page (about a fifth of it)."""
    examples = analysis.display_examples(default_run(task).make_task())
    models = {name: pretrained(task, name) for name in CELLS}
    return _rnn_views.pretrained_comparison(models, LAB_TASKS[task], examples, index)


def current_model(run: RnnRun):
    """The user's trained model if it matches the controls, else the pretrained default, else a fresh one."""
    mine = _ui.current_run("rnn", run)
    if mine is not None:
        return mine.model, f"your model, trained live for {mine.step} steps"
    if has_pretrained(run):
        try:
            model, meta = pretrained(task_name, run.model.cell)
            fit = f", training words {meta['train_metric']:.1%}" if meta.get("train_metric") else ""
            return model.to(_ui.device()), (
                f"pretrained ({meta['steps']} steps; accuracy on held-out words {meta['test_metric']:.1%}{fit})"
                if fit
                else f"pretrained ({meta['steps']} steps, test accuracy {meta['test_metric']:.1%})"
            )
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
    if note := task_note(task_name, task):
        st.caption(note)
    examples = analysis.display_examples(task)
    trace = analysis.trace_examples(model, examples)
    index = _rnn_views.example_index(examples, task_name)

states_tab, pca_tab, word_tab, train_tab, compare_tab = st.tabs(
    ["Hidden states", "Trajectories (PCA)", "Type your own word", "Train live", "RNN vs LSTM vs GRU"]
)

with states_tab, _ui.user_errors():
    _rnn_views.states_view(trace, examples, run, task)

with pca_tab, _ui.user_errors():
    _rnn_views.trajectories_view(model, task, spec)

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
        return build_trainer(training_run(run), _ui.device())

    def render(trainer) -> None:
        title = f"{CELL_LABELS[trainer.model.body.cell]} on {lab_task.title}"
        _ui.show_figure(history_curves(trainer.history, "accuracy", title), key="rnn_train_curves")

    chance = ("accuracy", task.chance) if task.chance is not None else None
    _ui.live_training("rnn", start, render, chance=chance, spec=run)
    mine = _ui.current_run("rnn", run)
    if mine is not None and mine.done:
        score = _ui.ended_run_value("rnn", "test_score", lambda ended: evaluate(ended.model, task))
        st.metric("Test accuracy of your model", f"{score:.1%}")

with compare_tab, _ui.user_errors():
    _rnn_views.compare_view(
        pretrained_comparison(task_name, index) if has_pretrained(run) else None,
        lambda: build_trainer(training_run(run, compare=True), _ui.device()),
        lab_task,
        examples,
        index,
        ("accuracy", task.chance) if task.chance is not None else None,
    )
