"""The RNN lab's views, tab by tab: hidden states and gates, trajectories, a typed word (its class, its
per-letter attributions, a lesson), and RNN vs LSTM vs GRU side by side."""

from dataclasses import asdict

import streamlit as st

from models.blocks.recurrent import CELL_LABELS
from models.data import lexicon
from models.labs.rnn import analysis
from pages import _ui
from viz import rnn as figures

CLASSES = list(lexicon.CLASSES)
HOW_STATES = (
    "Each column is one step t of the input, each row one unit of h_t (red positive, blue negative). Look for "
    "units that switch when a telling token arrives (a word's ending) and units that hold their value across many "
    "steps: that held value is the memory h_t = f(U x_t + W h_{t-1} + b) carries forward."
)
HOW_CELL = (
    "Top: the LSTM cell state C_t, changed only through the gates (C_t = f_t * C_{t-1} + i_t * C~_t), so it can "
    "hold a value over many steps; bottom: h_t = o_t * tanh(C_t), what the output reads."
)
HOW_GATES = (
    "Gates near 1 (yellow) let through, near 0 (dark) block: a forget gate near 1 keeps C_{t-1}; an input gate "
    "near 0 ignores the current token. Candidates (red/blue) are the new content, in [-1, 1]."
)
HOW_STEPS = (
    "The output layer applied to h_t after every step: how the answer forms while the sequence is read. A "
    "many-to-one model answers only at the last column."
)


def example_index(examples: analysis.Examples, task_name: str) -> int:
    """The chosen display input (its selector is keyed by task, so a new task starts at its first input)."""
    return min(st.session_state.get(f"rnn_example_{task_name}", 0), len(examples.names) - 1)


def states_view(trace, examples: analysis.Examples, run, task) -> None:
    """Hidden states (and the LSTM's cell state and gates) of one display input, and the prediction at each step."""
    spec = run.model
    v1, v2 = _ui.view_columns(2)
    index = v1.selectbox(
        "Input",
        range(len(examples.names)),
        key=f"rnn_example_{run.task}",
        format_func=lambda i: f"{examples.names[i]} ({examples.labels[i]})",
    )
    layer = v2.selectbox(
        "Layer", range(spec.num_layers), format_func=lambda i: f"layer {i + 1}", key=f"rnn_layer_{spec.num_layers}"
    )
    tokens, length, label = examples.tokens[index], int(examples.lengths[index]), CELL_LABELS[spec.cell]
    for direction in range(2 if spec.bidirectional else 1):
        view = analysis.layer_view(trace, index, layer, direction, length)
        where = f"layer {layer + 1}" + ([", forward →h_t", ", backward ←h_t"][direction] if spec.bidirectional else "")
        if view["c"] is not None:
            title = f"LSTM cell state and hidden state ({where})"
            _ui.show_figure(
                figures.cell_and_hidden(view["c"], view["h"], tokens, title), f"rnn_states_{direction}", HOW_CELL
            )
        else:
            bounded = spec.nonlinearity == "tanh" or spec.cell != "rnn"
            figure = figures.hidden_heatmap(view["h"], tokens, f"Hidden states h_t of {label} ({where})", bounded)
            _ui.show_figure(figure, f"rnn_states_{direction}", HOW_STATES)
        if view["gates"]:
            with st.expander(f"Gate activations ({where})", expanded=direction == 0):
                _ui.show_figure(
                    figures.gates_figure(view["gates"], tokens, f"{label} gates ({where})"),
                    f"rnn_gates_{direction}",
                    HOW_GATES,
                )
                if spec.cell == "gru":
                    st.caption(gru_note(view["gates"]))
    per_step = analysis.step_predictions(trace, index, length, task.kind)
    if task.kind == "classification":
        title = "Prediction read from h_t at every step (the many-to-one output is the last one)"
        figure = figures.step_probabilities(per_step, tokens, list(task.classes), title)
    else:
        figure = figures.step_regression(
            per_step, examples.targets[index][:, 0].numpy(), tokens, "Running sum: prediction y_t vs target"
        )
    _ui.show_figure(figure, "rnn_step_pred", HOW_STEPS)
    view = analysis.layer_view(trace, index, layer, 0, length)
    arrays = {"h": view["h"], **({"c": view["c"]} if view["c"] is not None else {}), **view["gates"]}
    settings = {"task": run.task, **run.task_settings, **asdict(spec), "input": examples.names[index]}
    _ui.export_buttons("rnn_states", arrays, settings | {"layer": layer + 1}, csv=("h", view["h"]))


def gru_note(gates: dict) -> str:
    gap = float(abs(gates["new"] - gates["lecture_new"]).max())
    return (
        "The lecture's GRU uses z_t as the gate of the new content, h_t = (1 - z_t) h_{t-1} + z_t h~_t; torch's "
        "gate u_t keeps the old state, so the panel shows z_t = 1 - u_t. Its candidate puts the reset gate after the "
        "matrix, r_t * (W_hn h_{t-1} + b_hn), where the slide puts it before, W [r_t * h_{t-1}, x_t]: the model "
        f"uses torch's form; the slide's, from the same weights, differs from it by up to {gap:.2f} on this input."
    )


def trajectories_view(model, task, spec) -> None:
    """h_t of many inputs projected on their principal components, coloured by class."""
    p1, p2, p3 = st.columns(3)
    dims = p1.radio("Projection", [2, 3], format_func=lambda k: f"{k}D", horizontal=True, key="rnn_pca_dims")
    layer = p2.selectbox(
        "Layer", range(spec.num_layers), format_func=lambda i: f"layer {i + 1}", key=f"rnn_pca_layer_{spec.num_layers}"
    )
    direction = p3.radio(
        "Direction",
        range(2 if spec.bidirectional else 1),
        format_func=["forward", "backward"].__getitem__,
        horizontal=True,
        key=f"rnn_pca_dir_{int(spec.bidirectional)}",
    )
    many = analysis.display_examples(task, analysis.TRAJECTORY_SIZE)
    lengths = many.lengths.tolist()
    points, explained = analysis.trajectories(analysis.trace_examples(model, many), lengths, layer, direction, dims)
    title = f"Trajectories of h_t (layer {layer + 1}), PCA, coloured by class"
    figure = figures.trajectory_figure(points, lengths, many.labels, many.names, many.tokens, explained, title)
    how = (
        "Each line is one input read step by step; the big marker is its last step, where a many-to-one model "
        "makes its prediction. Inputs of the same class should end close together: the classes separate in h_t."
    )
    _ui.show_figure(figure, "rnn_pca", how)


def with_article(noun: str) -> str:
    return ("an " if noun[0] in "aeiou" else "a ") + noun


def word_view(model, source: str, text: str, explain: int | None, run) -> None:
    """What the model says of the typed word and which letters make it say so (Integrated Gradients)."""
    result = analysis.predict_word(model, text, target=explain)
    for note in result.notes:
        st.caption(f"Note: {_ui.literal(note)}.")
    known = f"the lexicon says **{result.in_lexicon}**" if result.in_lexicon else "not in the lexicon"
    if result.in_lexicon:
        known += " (test (held out) word)" if lexicon.is_test_word(result.word) else " (training word)"
    predicted = CLASSES[int(result.probabilities.argmax())]
    st.markdown(f"**{result.word}** → **{predicted}** ({result.probabilities.max():.0%}); {known}.")
    w1, w2 = st.columns(2)
    with w1:
        title = f"Class probabilities for '{result.word}'"
        _ui.show_figure(figures.probability_bars(result.probabilities, CLASSES, title), key="rnn_word_probs")
    with w2:
        explained = CLASSES[result.target]
        title = f"Which letters make '{result.word}' {with_article(explained)}? (Integrated Gradients)"
        figure = figures.attribution_bars(list(result.word), result.attributions, explained, title)
        _ui.show_figure(figure, key="rnn_word_attr")
    figure = figures.step_probabilities(
        result.step_probabilities, list(result.word), CLASSES, "Prediction after each letter"
    )
    _ui.show_figure(figure, key="rnn_word_steps")
    suffix, counts = lexicon.suffix_classes(result.word)
    similar = ", ".join(f"{n} {name}{'s' if n > 1 else ''}" for name, n in counts.items() if n)
    if similar:
        st.caption(
            f"The network only sees spelling: training words ending in '-{suffix}' are {similar}. Ambiguous endings "
            "are where a character-level model errs."
        )
    st.caption(
        f"Integrated Gradients (Captum) from the all-zero input to the one-hot letters; the attributions sum to the "
        f"change of the '{CLASSES[result.target]}' logit (completeness error {result.delta:.1e})."
    )
    teach_panel(model, (run.task, run.task_settings, run.model, source), result)


def teach_panel(model, shown: tuple, result: analysis.WordPrediction) -> None:
    """Fine-tune a copy of the model on the typed word and show what the lesson changed (``shown`` names the model
    taught, so a lesson is shown only while that model is on screen)."""
    st.markdown("#### Teach it this word")
    default = CLASSES.index(result.in_lexicon) if result.in_lexicon else int(result.probabilities.argmax())
    c1, c2 = st.columns([1, 2])
    label = c1.selectbox(
        "Its class", range(len(CLASSES)), default, format_func=CLASSES.__getitem__, key="rnn_teach_class"
    )
    if c2.button(
        f"Teach: '{result.word}' is {with_article(CLASSES[label])}", key="rnn_teach", icon=":material/school:"
    ):
        with st.spinner("Fine-tuning a copy of the model..."):
            taught, lesson = analysis.teach_word(model, result.word, label, seed=_ui.global_seed())
        st.session_state["rnn_lesson"] = (shown, taught, lesson)
    stored = st.session_state.get("rnn_lesson")
    if stored is None or stored[0] != shown or stored[2].word != result.word:
        st.caption(
            f"A lesson fine-tunes a copy of the model for {analysis.LESSON_STEPS} steps; each batch of 128 training "
            f"words holds {analysis.LESSON_COPIES} copies of this word. The model above is left as it is."
        )
        return
    _, taught, lesson = stored
    after = analysis.predict_word(taught, lesson.word, target=lesson.label)
    name = CLASSES[lesson.label]
    l1, l2 = st.columns(2)
    with l1:
        title = f"'{lesson.word}' before and after the lesson"
        _ui.show_figure(figures.lesson_bars(lesson.before, lesson.after, CLASSES, title), key="rnn_lesson_probs")
    with l2:
        title = f"After the lesson: which letters make '{lesson.word}' {with_article(name)}?"
        figure = figures.attribution_bars(list(lesson.word), after.attributions, name, title)
        _ui.show_figure(figure, key="rnn_lesson_attr")
    before_accuracy, after_accuracy = lesson.test_accuracy
    change = f"{100 * (after_accuracy - before_accuracy):+.1f} points"
    st.metric("Held-out accuracy after the lesson", f"{after_accuracy:.1%}", change)
    if lesson.neighbours:
        changed = sum(b != a for _, _, b, a in lesson.neighbours)
        st.markdown(
            f"Training words that end like '{lesson.word}': {changed} of {len(lesson.neighbours)} changed their "
            "predicted class. A network that reads spelling generalises from one example to its neighbours."
        )
        rows = [
            {"word": w, "lexicon": c, "predicted before": b, "predicted after": a, "changed": b != a}
            for w, c, b, a in lesson.neighbours
        ]
        st.dataframe(rows, hide_index=True)


def compare_view(pretrained: tuple | None, start_group, lab_task, examples, index: int, chance) -> None:
    """The three cells' curves and h_t on the chosen input: the pretrained runs (``pretrained``: the figures and
    text of :func:`pretrained_comparison`, None without them), or a group trained live from ``start_group``;
    ``chance`` (metric, value) marks a cell that learned nothing."""
    st.markdown("The same task, size, seed and optimizer for the three cells.")
    group = _ui.live_training(
        "rnn_cmp",
        start_group,
        lambda g: _ui.show_figure(
            figures.comparison_curves(g.histories, f"Training live: {lab_task.title}"), key="rnn_cmp_live"
        ),
        start_label="Train all three live",
        chance=chance,
    )
    if group is not None and group.done:
        heatmaps = hidden_heatmaps(group.models, examples, index)
    elif pretrained is not None:
        curves, outcomes, heatmaps = pretrained
        _ui.show_figure(curves, key="rnn_cmp_curves")
        st.markdown(outcomes)
    else:
        heatmaps = {}
        st.caption("No pretrained comparison for these settings: press Train all three live.")
    for column, (cell, figure) in zip(st.columns(max(len(heatmaps), 1)), heatmaps.items(), strict=False):
        with column:
            _ui.show_figure(figure, key=f"rnn_cmp_h_{cell}")


def pretrained_comparison(pretrained: dict, lab_task, examples, index: int) -> tuple:
    """The pretrained runs ({cell: (model, meta)}) as :func:`compare_view` shows them: their curves, their
    outcomes and each cell's h_t on display input ``index``."""
    curves = {cell: meta["curves"] for cell, (_, meta) in pretrained.items()}
    title = f"Pretrained runs (seed 0): {lab_task.title}"
    outcomes = "Pretrained runs: " + "; ".join(outcome(cell, meta) for cell, (_, meta) in pretrained.items()) + "."
    models = {cell: model for cell, (model, _) in pretrained.items()}
    return figures.comparison_curves(curves, title, lab_task.target), outcomes, hidden_heatmaps(models, examples, index)


def hidden_heatmaps(models: dict, examples, index: int) -> dict:
    """{cell: figure of its first layer's h_t on display input ``index``}."""
    length, heatmaps = int(examples.lengths[index]), {}
    for cell, model in models.items():
        h = analysis.layer_view(analysis.trace_examples(model, examples), index, 0, 0, length)["h"]
        title = f"{CELL_LABELS[cell]}: h_t for {examples.names[index]}"
        heatmaps[cell] = figures.hidden_heatmap(h, examples.tokens[index], title)
    return heatmaps


def outcome(cell: str, meta: dict) -> str:
    reached = meta.get("steps_to_target")
    result = f"target reached at step {reached}" if reached else f"target not reached in {meta['steps']} steps"
    return f"{CELL_LABELS[cell]}: {result}, test accuracy {meta['test_metric']:.1%}"
