"""RNN lab: hidden-state dynamics of vanilla RNN, LSTM and GRU on the lecture's tasks, trained live."""

from dataclasses import asdict

import numpy as np
import streamlit as st
import torch

from models import pos_lexicon, rnn_lab
from models.checkpoint import CheckpointError
from models.engine import TrainConfig
from models.rnn import CELLS, MAX_LAYERS
from pages import _ui
from viz.rnn import (
    attribution_bars,
    cell_and_hidden,
    comparison_curves,
    gates_figure,
    hidden_heatmap,
    lesson_bars,
    probability_bars,
    step_probabilities,
    step_regression,
    trajectory_figure,
)
from viz.training import history_curves

CELL_NAMES = {"rnn": "vanilla RNN", "lstm": "LSTM", "gru": "GRU"}
HIDDEN_SIZES = [4, 8, 16, 32, 64, 128, 256]
LEARNING_RATES = [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 1.0, 10.0]
DEFAULTS = {
    "rnn_task": "pos",
    "rnn_cell": "lstm",
    "rnn_layers": 1,
    "rnn_bidir": False,
    "rnn_hidden": 64,
    "rnn_nonlin": "tanh",
    "rnn_gap": rnn_lab.LAB_TASKS["recall"].params["gap"],
    "rnn_length": 10,
    "rnn_word": "deep",
}
PRESETS = {
    "'deep' => adj": {"rnn_task": "pos", "rnn_cell": "lstm", "rnn_hidden": 64, "rnn_word": "deep", "rnn_explain": 2},
    "Computing sum": {"rnn_task": "running_sum", "rnn_cell": "lstm", "rnn_hidden": 32, "rnn_length": 10},
    "Sum comparison": {"rnn_task": "sum_comparison", "rnn_cell": "lstm", "rnn_hidden": 32, "rnn_length": 10},
    "Long range: RNN vs LSTM": {
        "rnn_task": "recall_long",
        "rnn_cell": "rnn",
        "rnn_hidden": 32,
        "rnn_gap": rnn_lab.LAB_TASKS["recall_long"].params["gap"],
    },
}
PRESET_BASE = {"rnn_layers": 1, "rnn_bidir": False, "rnn_nonlin": "tanh", "rnn_explain": None}


def task_defaults(task_name: str) -> dict:
    """The controls at which ``task_name`` has a pretrained model: its hidden size and gap."""
    chosen = rnn_lab.LAB_TASKS[task_name]
    return {"rnn_hidden": chosen.hidden_size} | ({"rnn_gap": chosen.params["gap"]} if "gap" in chosen.params else {})


def use_task_defaults() -> None:
    """A newly chosen task starts at its pretrained size."""
    st.session_state.update(task_defaults(st.session_state["rnn_task"]))


def set_defaults() -> None:
    """Defaults for the controls that the URL does not set; a task named in the URL brings its own defaults.

    Bound widgets write their displayed labels into the URL; an option's name is read as its label, and a
    value that names no option is dropped with a warning (Streamlit would leave the control empty).
    """
    labels = {
        "rnn_task": {task.title: name for name, task in rnn_lab.LAB_TASKS.items()},
        "rnn_cell": {label: name for name, label in CELL_NAMES.items()},
    }
    for key, known in labels.items():
        by_name = {name: label for label, name in known.items()}
        if st.query_params.get(key) in by_name:  # a hand-written link may use the name: "?rnn_task=recall_long"
            st.session_state[key] = st.query_params[key]
            del st.query_params[key]
        if key in st.query_params and st.query_params[key] not in known:
            st.warning(f"The link's {key.removeprefix('rnn_')} '{st.query_params[key]}' is unknown; using the default.")
            del st.query_params[key]
    defaults = dict(DEFAULTS)
    if "rnn_task" in st.query_params:
        defaults |= task_defaults(labels["rnn_task"][st.query_params["rnn_task"]])
    elif "rnn_task" in st.session_state:
        defaults |= task_defaults(st.session_state["rnn_task"])
    for key, value in defaults.items():
        if key not in st.query_params:
            st.session_state.setdefault(key, value)


def apply_preset(name: str) -> None:
    st.session_state.update(PRESET_BASE | PRESETS[name])


_ui.lab_header(
    "Recurrent networks",
    "I. Recurrent Neural Networks: vanilla RNNs, expressiveness examples, grammatical analysis, LSTM, GRU, "
    "deep and bidirectional RNNs",
    "An RNN reads a sequence one token at a time and keeps a memory $h_t = f(U x_t + W h_{t-1} + b)$; the "
    "prediction is $y_t = V h_t + b_y$ at every step (many-to-many) or at the last one (many-to-one). LSTM and "
    "GRU add gates that decide what the memory keeps.",
)
preset_columns = st.columns(len(PRESETS))
for column, name in zip(preset_columns, PRESETS, strict=True):
    column.button(
        f"Lecture: {name}", on_click=apply_preset, args=(name,), icon=":material/slideshow:", key=f"rnn_p_{name}"
    )

set_defaults()

c_task, c_cell, c_layers, c_hidden, c_bidir = st.columns([3, 2.6, 1.6, 2, 1.4])
task_name = c_task.selectbox(
    "Task",
    list(rnn_lab.LAB_TASKS),
    format_func=lambda name: rnn_lab.LAB_TASKS[name].title,
    on_change=use_task_defaults,
    key="rnn_task",
    bind="query-params",
)
cell = c_cell.segmented_control(
    "Cell", list(CELLS), format_func=CELL_NAMES.get, key="rnn_cell", bind="query-params", required=True
)
num_layers = c_layers.slider("Layers", 1, MAX_LAYERS, key="rnn_layers", bind="query-params")
hidden_size = c_hidden.select_slider("Hidden size H", HIDDEN_SIZES, key="rnn_hidden", bind="query-params")
bidirectional = c_bidir.toggle("Bidirectional", key="rnn_bidir", bind="query-params")

with _ui.secondary_controls("Task and training settings"):
    s1, s2, s3, s4 = st.columns(4)
    nonlinearity = s1.radio("f (vanilla RNN)", ["tanh", "relu"], key="rnn_nonlin", bind="query-params", horizontal=True)
    gap = s2.slider("Gap T (recall task)", 1, 200, key="rnn_gap", bind="query-params")
    length = s3.slider("Length (sum tasks)", 2, 100, key="rnn_length", bind="query-params")
    steps = s4.slider("Training steps", 50, 5000, 800, step=50, key="rnn_steps", bind="query-params")
    t1, t2, t3 = st.columns(3)
    lr = t1.select_slider("Learning rate", LEARNING_RATES, value=1e-2, key="rnn_lr", bind="query-params")
    clip = t2.select_slider(
        "Gradient clipping (max norm)", ["off", 0.1, 1.0, 10.0], value=1.0, key="rnn_clip", bind="query-params"
    )
    window = t3.slider(
        "Truncated BPTT window (0 = full BPTT)",
        0,
        100,
        0,
        key="rnn_tbptt",
        bind="query-params",
        help="Unidirectional nets on equal-length tasks only.",
    )

task_params = {knob: {"gap": gap, "length": length}[knob] for knob in rnn_lab.task_knobs(task_name)}
spec = rnn_lab.ModelSpec(cell, hidden_size, num_layers, bidirectional, nonlinearity)
signature = (task_name, tuple(sorted(task_params.items())), asdict(spec))
lab_task = rnn_lab.LAB_TASKS[task_name]
task = lab_task.make(**task_params)
is_default = rnn_lab.has_pretrained(task_name, spec, task_params)


def pretrained(task_name: str, cell: str):
    checkpoint = _ui.cached_checkpoint(rnn_lab.checkpoint_path(_ui.ASSETS, task_name, cell).name)
    return rnn_lab.model_from_checkpoint(checkpoint, f"pretrained {task_name}/{cell}"), checkpoint.meta


def current_model():
    """The user's trained model if it matches the controls, else the pretrained default, else a fresh one."""
    trainer = st.session_state.get("rnn_trainer")
    if trainer is not None and st.session_state.get("rnn_trainer_signature") == signature:
        return trainer.model, f"your model, trained live for {trainer.step} steps"
    if is_default:
        try:
            model, meta = pretrained(task_name, cell)
            return model.to(
                _ui.device()
            ), f"pretrained ({meta['steps']} steps, test accuracy {meta['test_metric']:.1%})"
        except CheckpointError as error:
            st.warning(f"No pretrained model: {error}")
    torch.manual_seed(_ui.global_seed())
    model = rnn_lab.build_model(task, spec).to(_ui.device())
    return model, "untrained (random weights): no pretrained model for these settings, press Train live"


def with_article(noun: str) -> str:
    return ("an " if noun[0] in "aeiou" else "a ") + noun


def teach_panel(model, source: str, result, classes: list[str]) -> None:
    """Fine-tune a copy of the model on the typed word and show what the lesson changed (``source`` names the
    model taught, so a lesson is shown only while that model is on screen)."""
    st.markdown("#### Teach it this word")
    default = classes.index(result.in_lexicon) if result.in_lexicon else int(result.probabilities.argmax())
    c1, c2 = st.columns([1, 2])
    label = c1.selectbox(
        "Its class", range(len(classes)), default, format_func=classes.__getitem__, key="rnn_teach_class"
    )
    if c2.button(
        f"Teach: '{result.word}' is {with_article(classes[label])}", key="rnn_teach", icon=":material/school:"
    ):
        with st.spinner("Fine-tuning a copy of the model..."):
            taught, lesson = rnn_lab.teach_word(model, result.word, label, seed=_ui.global_seed())
        st.session_state["rnn_lesson"] = ((signature, source), taught, lesson)
    stored = st.session_state.get("rnn_lesson")
    if stored is None or stored[0] != (signature, source) or stored[2].word != result.word:
        st.caption(
            f"A lesson fine-tunes a copy of the model for {rnn_lab.LESSON_STEPS} steps; each batch of 128 training "
            f"words holds {rnn_lab.LESSON_COPIES} copies of this word. The model above is left as it is."
        )
        return
    _, taught, lesson = stored
    taught_result = rnn_lab.predict_word(taught, lesson.word, target=lesson.label)
    name = classes[lesson.label]
    l1, l2 = st.columns(2)
    with l1:
        _ui.show_figure(
            lesson_bars(lesson.before, lesson.after, classes, f"'{lesson.word}' before and after the lesson"),
            key="rnn_lesson_probs",
        )
    with l2:
        _ui.show_figure(
            attribution_bars(
                list(lesson.word),
                taught_result.attributions,
                name,
                f"After the lesson: which letters make '{lesson.word}' {with_article(name)}?",
            ),
            key="rnn_lesson_attr",
        )
    before, after = lesson.test_accuracy
    st.metric("Held-out accuracy after the lesson", f"{after:.1%}", f"{100 * (after - before):+.1f} points")
    if lesson.neighbours:
        changed = sum(b != a for _, _, b, a in lesson.neighbours)
        st.markdown(
            f"Training words that end like '{lesson.word}': {changed} of {len(lesson.neighbours)} changed "
            "their predicted class. A network that reads spelling generalises from one example to its neighbours."
        )
        st.dataframe(
            [
                {"word": w, "lexicon": c, "predicted before": b, "predicted after": a, "changed": b != a}
                for w, c, b, a in lesson.neighbours
            ],
            hide_index=True,
        )


with _ui.user_errors():
    model, source = current_model()
    st.info(f"{CELL_NAMES[cell]} on *{lab_task.title}*: {source}.", icon=":material/memory:")
    if "gap" in task_params:
        st.caption(
            f"Input: symbol A-D one-hot plus a channel that marks step 1; the answer is the first symbol, "
            f"read after {gap} random distractors (chance 25%). LSTM and GRU start with the chrono "
            f"initialisation: each unit's forget (GRU: keep) gate bias is log u, u ~ U(1, {gap}), so its memory "
            "starts at about u steps, and the LSTM input gate starts nearly closed. The vanilla RNN has no gate "
            "to set: its gradient through W shrinks with every step of the gap."
        )
    examples = rnn_lab.display_examples(task_name, task=task)
    trace = rnn_lab.trace_examples(model, examples)
    lengths = examples.lengths.tolist() if examples.lengths is not None else [examples.x.shape[1]] * len(examples.names)
    labels = rnn_lab.example_labels(task_name, examples, task)

    states_tab, pca_tab, word_tab, train_tab, compare_tab = st.tabs(
        ["Hidden states", "Trajectories (PCA)", "Type your own word", "Train live", "RNN vs LSTM vs GRU"]
    )

    with states_tab:
        v1, v2, v3 = st.columns(3)
        index = v1.selectbox(
            "Input",
            range(len(examples.names)),
            format_func=lambda i: f"{examples.names[i]} ({labels[i]})",
            key="rnn_example",
        )
        layer = v2.selectbox(
            "Layer", range(num_layers), format_func=lambda i: f"layer {i + 1}", key=f"rnn_layer_{num_layers}"
        )
        tokens = examples.tokens[index][: lengths[index]]
        directions = range(2) if bidirectional else range(1)
        for direction in directions:
            view = rnn_lab.layer_view(trace, index, layer, direction, lengths[index])
            where = f"layer {layer + 1}" + (
                ", backward ←h_t" if direction else ", forward →h_t" if bidirectional else ""
            )
            if view["c"] is not None:
                figure = cell_and_hidden(view["c"], view["h"], tokens, f"LSTM cell state and hidden state ({where})")
            else:
                figure = hidden_heatmap(
                    view["h"],
                    tokens,
                    f"Hidden states h_t of {CELL_NAMES[cell]} ({where})",
                    bounded=nonlinearity == "tanh" or cell != "rnn",
                )
            _ui.show_figure(figure, key=f"rnn_states_{direction}")
            if view["gates"]:
                with st.expander(f"Gate activations ({where})", expanded=direction == 0):
                    _ui.show_figure(
                        gates_figure(view["gates"], tokens, f"{CELL_NAMES[cell]} gates ({where})"),
                        key=f"rnn_gates_{direction}",
                    )
        per_step = rnn_lab.step_predictions(trace, index, lengths[index], task.kind)
        if task.kind == "classification":
            title = "Prediction read from h_t at every step (the many-to-one output is the last one)"
            _ui.show_figure(step_probabilities(per_step, tokens, list(task.classes), title), key="rnn_step_pred")
        else:
            target = examples.targets[index][:, 0].numpy()
            _ui.show_figure(
                step_regression(per_step, target, tokens, "Running sum: prediction y_t vs target"), key="rnn_step_pred"
            )
        view0 = rnn_lab.layer_view(trace, index, layer, 0, lengths[index])
        _ui.export_buttons(
            "rnn_states",
            {"h": view0["h"], **({"c": view0["c"]} if view0["c"] is not None else {}), **view0["gates"]},
            {"task": task_name, **task_params, **asdict(spec), "input": examples.names[index], "layer": layer + 1},
            csv=("h", view0["h"]),
        )

    with pca_tab:
        p1, p2, p3 = st.columns(3)
        dims = p1.radio("Projection", [2, 3], format_func=lambda k: f"{k}D", horizontal=True, key="rnn_pca_dims")
        pca_layer = p2.selectbox(
            "Layer", range(num_layers), format_func=lambda i: f"layer {i + 1}", key=f"rnn_pca_layer_{num_layers}"
        )
        pca_dir = p3.radio(
            "Direction",
            directions,
            format_func=["forward", "backward"].__getitem__,
            horizontal=True,
            key=f"rnn_pca_dir_{int(bidirectional)}",
        )
        many = rnn_lab.display_examples(task_name, n=24, task=task, words=rnn_lab.pca_words())
        many_trace = rnn_lab.trace_examples(model, many)
        many_lengths = many.lengths.tolist() if many.lengths is not None else [many.x.shape[1]] * len(many.names)
        points, explained = rnn_lab.trajectories(many_trace, many_lengths, pca_layer, pca_dir, dims)
        _ui.show_figure(
            trajectory_figure(
                points,
                many_lengths,
                rnn_lab.example_labels(task_name, many, task),
                many.names,
                many.tokens,
                explained,
                f"Trajectories of h_t (layer {pca_layer + 1}), PCA, coloured by class",
            ),
            key="rnn_pca",
        )
        st.caption(
            "Each line is one input read step by step; the big marker is its last step, where a "
            "many-to-one model makes its prediction. Inputs of the same class should end close together."
        )

    with word_tab:
        if task_name != "pos":
            st.info("Typing a word needs the part-of-speech task.", icon=":material/keyboard:")
            st.button("Switch to the part-of-speech task", on_click=apply_preset, args=("'deep' => adj",))
        else:
            text = st.text_input("Your word (letters a-z)", max_chars=500, key="rnn_word", bind="query-params")
            classes = list(pos_lexicon.CLASSES)
            explain = st.selectbox(
                "Explain the class",
                [None, *range(len(classes))],
                format_func=lambda k: "the predicted one" if k is None else classes[k],
                key="rnn_explain",
            )
            with _ui.user_errors():
                result = rnn_lab.predict_word(model, text, target=explain)
                for note in result.notes:
                    st.caption(f"Note: {note}.")
                known = f"the lexicon says **{result.in_lexicon}**" if result.in_lexicon else "not in the lexicon"
                split_name = "test (held out)" if pos_lexicon.is_test_word(result.word) else "training"
                if result.in_lexicon:
                    known += f" ({split_name} word)"
                st.markdown(
                    f"**{result.word}** → **{classes[int(result.probabilities.argmax())]}** "
                    f"({result.probabilities.max():.0%}); {known}."
                )
                w1, w2 = st.columns(2)
                with w1:
                    _ui.show_figure(
                        probability_bars(result.probabilities, classes, f"Class probabilities for '{result.word}'"),
                        key="rnn_word_probs",
                    )
                with w2:
                    explained = classes[result.target]
                    _ui.show_figure(
                        attribution_bars(
                            list(result.word),
                            result.attributions,
                            explained,
                            f"Which letters make '{result.word}' {with_article(explained)}? (Integrated Gradients)",
                        ),
                        key="rnn_word_attr",
                    )
                _ui.show_figure(
                    step_probabilities(
                        result.step_probabilities, list(result.word), classes, "Prediction after each letter"
                    ),
                    key="rnn_word_steps",
                )
                suffix, counts = pos_lexicon.suffix_classes(result.word)
                similar = ", ".join(f"{n} {name}{'s' if n > 1 else ''}" for name, n in counts.items() if n)
                if similar:
                    st.caption(
                        f"The network only sees spelling: training words ending in '-{suffix}' are {similar}. "
                        "Ambiguous endings are where a character-level model errs."
                    )
                st.caption(
                    f"Integrated Gradients (Captum) from the all-zero input to the one-hot letters; the "
                    f"attributions sum to the change of the '{classes[result.target]}' logit "
                    f"(completeness error {result.delta:.1e})."
                )
                teach_panel(model, source, result, classes)

    def make_trainer():
        torch.manual_seed(_ui.global_seed())
        fresh = rnn_lab.build_model(task, spec)
        config = TrainConfig(
            steps=steps,
            lr=lr,
            clip_norm=None if clip == "off" else float(clip),
            tbptt_window=window or None,
            seed=_ui.global_seed(),
        )
        if window and (bidirectional or task_name == "pos"):
            raise ValueError("truncated BPTT needs a unidirectional net on an equal-length task (not part of speech)")
        st.session_state["rnn_trainer_signature"] = signature
        return rnn_lab.make_trainer(fresh, task, config, device=_ui.device())

    def render(trainer) -> None:
        history = trainer.history
        title = f"{CELL_NAMES[trainer.model.body.cell]} on {lab_task.title}"
        _ui.show_figure(
            history_curves(history, "accuracy", title),
            key="rnn_train_curves",
        )

    with train_tab:
        st.markdown(
            f"Retrain the {CELL_NAMES[cell]} above from random weights (seed {_ui.global_seed()}); "
            f"the default target is a test accuracy of {lab_task.target:.0%}."
        )
        trainer = _ui.live_training("rnn", make_trainer, render)
        if trainer is not None and trainer.done and st.session_state.get("rnn_trainer_signature") == signature:
            st.metric("Test accuracy of your model", f"{rnn_lab.evaluate(trainer.model, task_name, task):.1%}")

    with compare_tab:
        st.markdown("The same task, size, seed and optimizer for the three cells.")
        curves, hidden_views, outcomes = {}, {}, []
        if is_default:
            for name in CELLS:
                try:
                    other, meta = pretrained(task_name, name)
                except CheckpointError:
                    continue
                curves[name] = {k: np.asarray(v) for k, v in meta["curves"].items()}
                reached = meta.get("steps_to_target")
                outcomes.append(
                    f"{CELL_NAMES[name]}: "
                    + (
                        f"target reached at step {reached}"
                        if reached
                        else f"target not reached in {meta['steps']} steps"
                    )
                    + f", test accuracy {meta['test_metric']:.1%}"
                )
                hidden_views[name] = rnn_lab.layer_view(
                    rnn_lab.trace_examples(other, examples), index, 0, 0, lengths[index]
                )["h"]
        comparison = _ui.live_training(
            "rnn_cmp",
            lambda: rnn_lab.side_by_side(
                task_name,
                spec,
                TrainConfig(
                    steps=steps, lr=lr, clip_norm=None if clip == "off" else float(clip), seed=_ui.global_seed()
                ),
                device=_ui.device(),
                **task_params,
            ),
            lambda sbs: _ui.show_figure(
                comparison_curves(sbs.curves(), f"Training live: {lab_task.title}"), key="rnn_cmp_live"
            ),
            start_label="Train all three live",
        )
        if comparison is not None and comparison.done:
            curves = comparison.curves()
            hidden_views = {
                name: rnn_lab.layer_view(rnn_lab.trace_examples(t.model, examples), index, 0, 0, lengths[index])["h"]
                for name, t in comparison.trainers.items()
            }
        elif curves:
            _ui.show_figure(
                comparison_curves(curves, f"Pretrained runs (seed 0): {lab_task.title}", lab_task.target),
                key="rnn_cmp_curves",
            )
            st.markdown("Pretrained runs: " + "; ".join(outcomes) + ".")
        if hidden_views:
            columns = st.columns(len(hidden_views))
            for column, (name, h) in zip(columns, hidden_views.items(), strict=True):
                with column:
                    _ui.show_figure(
                        hidden_heatmap(h, tokens, f"{CELL_NAMES[name]}: h_t for {examples.names[index]}"),
                        key=f"rnn_cmp_h_{name}",
                    )
        else:
            st.caption("No pretrained comparison for these settings: press Train all three live.")
