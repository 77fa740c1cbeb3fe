"""Two tabs of the RNN lab: "Type your own word" (a typed word's class, its per-letter attributions, a lesson)
and "RNN vs LSTM vs GRU" (the three cells side by side, pretrained or trained live)."""

import streamlit as st

from models.blocks.recurrent import CELL_LABELS
from models.data import lexicon
from models.labs.rnn import analysis
from pages import _ui
from viz import rnn as figures

CLASSES = list(lexicon.CLASSES)


def with_article(noun: str) -> str:
    return ("an " if noun[0] in "aeiou" else "a ") + noun


def word_view(model, source: str, text: str, explain: int | None, run) -> None:
    """What the model says of the typed word and which letters make it say so (Integrated Gradients)."""
    result = analysis.predict_word(model, text, target=explain)
    for note in result.notes:
        st.caption(f"Note: {note}.")
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


def compare_view(pretrained: dict, start_group, lab_task, examples: analysis.Examples, index: int) -> None:
    """The three cells' curves and h_t on the chosen input: the pretrained runs ({cell: (model, meta)}), or a
    group trained live from ``start_group``."""
    st.markdown("The same task, size, seed and optimizer for the three cells.")
    group = _ui.live_training(
        "rnn_cmp",
        start_group,
        lambda g: _ui.show_figure(
            figures.comparison_curves(g.histories, f"Training live: {lab_task.title}"), key="rnn_cmp_live"
        ),
        start_label="Train all three live",
    )
    models = {cell: model for cell, (model, _) in pretrained.items()}
    if group is not None and group.done:
        models = group.models
    elif pretrained:
        curves = {cell: meta["curves"] for cell, (_, meta) in pretrained.items()}
        title = f"Pretrained runs (seed 0): {lab_task.title}"
        _ui.show_figure(figures.comparison_curves(curves, title, lab_task.target), key="rnn_cmp_curves")
        st.markdown(
            "Pretrained runs: " + "; ".join(outcome(cell, meta) for cell, (_, meta) in pretrained.items()) + "."
        )
    if not models:
        st.caption("No pretrained comparison for these settings: press Train all three live.")
    length = int(examples.lengths[index])
    for column, (cell, model) in zip(st.columns(max(len(models), 1)), models.items(), strict=False):
        h = analysis.layer_view(analysis.trace_examples(model, examples), index, 0, 0, length)["h"]
        with column:
            title = f"{CELL_LABELS[cell]}: h_t for {examples.names[index]}"
            _ui.show_figure(figures.hidden_heatmap(h, examples.tokens[index], title), key=f"rnn_cmp_h_{cell}")


def outcome(cell: str, meta: dict) -> str:
    reached = meta.get("steps_to_target")
    result = f"target reached at step {reached}" if reached else f"target not reached in {meta['steps']} steps"
    return f"{CELL_LABELS[cell]}: {result}, test accuracy {meta['test_metric']:.1%}"
