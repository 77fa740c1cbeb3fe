"""The RNN applications lab's views: which models are on screen (the user's, pretrained or fresh) and their live
training, the character language model and the encoder-decoder."""

from dataclasses import asdict

import numpy as np
import streamlit as st

from models.core.checkpoint import CheckpointError
from models.data.seq2seq import parse_digit_words
from models.data.words import SYMBOLS
from models.labs.applications import charlm, seq2seq
from models.labs.applications.pretrain import checkpoint_path, model_from_checkpoint
from models.labs.applications.spec import build_model, build_trainer, evaluate, experiment_of, has_pretrained
from pages import _ui
from viz import applications as figures
from viz.rnn import comparison_curves, hidden_heatmap
from viz.training import training_curves

NAMES = {
    "lstm": "LSTM",
    "gru": "GRU",
    "plain": "plain encoder-decoder",
    "attention": "encoder-decoder with attention",
    "convlstm": "ConvLSTM",
    "cnn": "per-frame CNN",
}


def current_models(key: str, run) -> dict[str, tuple]:
    """{name: (model, where it comes from, its test scores, its training curves or None)} for each model of ``run``:
    the user's, once trained live with these settings; else the pretrained default; else a fresh one."""
    mine = _ui.current_run(key, run)
    if mine is not None and mine.done:
        return _ui.ended_run_value(key, "scored", lambda ended: _yours(run, ended))
    return {name: _default_model(run, name) for name in run.models}


def _yours(run, ended) -> dict[str, tuple]:
    members = ended.trainers or {run.models[0]: ended}
    return {name: _scored(run, name, t.model, f"yours, trained live for {t.step} steps") for name, t in members.items()}


def _default_model(run, name: str) -> tuple:
    experiment = experiment_of(run)
    if has_pretrained(run, name):
        try:
            checkpoint = _ui.cached_checkpoint(checkpoint_path(_ui.ASSETS, experiment, name).name)
            label = f"pretrained {experiment}/{name}"
            model = model_from_checkpoint(experiment, checkpoint, label)
            meta = checkpoint.record(label, "steps", "seconds", "scores", "curves")
            source = f"pretrained ({meta['steps']} steps, {meta['seconds']:.0f} s of training on CPU)"
            return model.to(_ui.device()), source, meta["scores"], meta["curves"]
        except CheckpointError as error:
            st.warning(f"No pretrained model: {error}")
    _ui.seed_torch()
    model = build_model(run, name).to(_ui.device())
    return _scored(run, name, model, "untrained (random weights): no pretrained model for these settings")


def _scored(run, name: str, model, source: str) -> tuple:
    """The model with its test scores (computed once per model and settings in this session), without curves."""
    cache = st.session_state.setdefault("app_scores", {})
    ident = (repr(run), name, source, _ui.global_seed())
    if ident not in cache:
        if len(cache) > 16:
            cache.clear()
        with st.spinner(f"Scoring the {NAMES[name]} on the test set..."):
            cache[ident] = evaluate(run, model)
    return model, source, cache[ident], None


def describe(models: dict) -> str:
    return "; ".join(f"{NAMES[name]}: {source}" for name, (_, source, _, _) in models.items())


def pretrained_curves(models: dict, title: str, metric: str):
    """The shipped models' training curves (one model: loss and ``metric``; several: side by side)."""
    curves = {NAMES[name]: c for name, (_, _, _, c) in models.items() if c}
    if len(curves) == 1:
        (c,) = curves.values()
        return training_curves(np.array(c["step"]), np.array(c["loss"]), np.array(c[metric]), metric, title)
    return comparison_curves(curves, title) if curves else None


def render_live(key: str, title: str, metric: str):
    """A live panel's figure: loss and ``metric`` of one trainer, or the members of a group side by side."""

    def render(run) -> None:
        if run.trainers:
            figure = comparison_curves({NAMES[n]: h for n, h in run.histories.items()}, title)
        else:
            history = run.history
            figure = training_curves(history["step"], history["loss"], history[metric], metric, title)
        _ui.show_figure(figure, key=f"{key}_live_curves")

    return render


def live(key: str, run, title: str, metric: str) -> None:
    """Retrain ``run``'s models from random weights (the sidebar's seed), live, with a stop button."""
    _ui.live_training(key, lambda: build_trainer(run, _ui.device()), render_live(key, title, metric), spec=run)


HOW_LETTER = (
    "The bars are p(next letter | the letters so far) = softmax(V h_t / temperature); red is the letter drawn. "
    "Scrub through the steps: after a few letters the model bets on a handful of continuations, and the end token "
    "'.' rises where an English word can stop. A lower temperature sharpens every distribution."
)
HOW_STATES = (
    "Each column is the state h_t after reading the symbol below it, each row one unit. Everything the model knows "
    "about the prefix is in this column: units that flip at a vowel or hold a value over the word are the memory "
    "the next-letter distribution is read from."
)
HOW_CURVES = (
    "The training loss (cross-entropy per predicted symbol) against the optimizer step: it falls fast while the model "
    "learns which letters are common, then slowly while it learns which follow which."
)
HOW_PERPLEXITY = (
    "Perplexity = exp(mean loss per character) on the held-out words: the number of equally likely letters the "
    "model is as unsure as. Uniform guessing over 27 symbols scores 27; counting letters (unigram) or letter pairs "
    "(bigram) does better, and the RNN, which reads the whole prefix in h_t, should beat both."
)
HOW_LOSSES = (
    "The loss -log p of each true next letter of your word, for the RNN and the two counting baselines. The RNN "
    "wins where the letters before the previous one matter (word endings such as '-ing', '-tion'); all three are "
    "unsure at the first letter, which no prefix predicts."
)


def language_model(controls, run, models: dict) -> None:
    """One-to-many sampling and many-to-many training of the character language model."""
    (name, (model, source, scores, _)) = next(iter(models.items()))
    st.info(f"{NAMES[name]} language model: {source}.", icon=":material/memory:")
    with _ui.user_errors():
        sampled_words(controls, run, model)
    perplexities = {NAMES[name]: scores["perplexity"], "bigram": scores["bigram"], "unigram": scores["unigram"]}
    title = "Perplexity on the held-out words (lower is better)"
    figure = figures.value_bars(perplexities | {"uniform": 27.0}, title, "perplexity")
    _ui.show_figure(figure, "app_lm_ppl", HOW_PERPLEXITY)
    with _ui.user_errors():
        word_losses(controls.show("app_lm_word"), NAMES[name], model)
    if (figure := pretrained_curves(models, "Pretraining: loss and perplexity per batch", "perplexity")) is not None:
        _ui.show_figure(figure, "app_lm_curves", HOW_CURVES)
    live("app_lm", run, f"{NAMES[run.cell]} language model, live", "perplexity")


def sampled_words(controls, run, model) -> None:
    """Words sampled from the start token, marked as in the lexicon or new; one of them step by step."""
    temperature, n, prefix = controls.row("app_lm_temp", "app_lm_n", "app_lm_prefix", widths=[2, 2, 1.5])
    words = charlm.sample_words(model, n, temperature, seed=_ui.global_seed(), prefix=prefix)
    counts = {kind: sum(w.source == kind for w in words) for kind in ("training word", "held-out lexicon word", "new")}
    st.markdown(
        f"Sampled from the start token '.' at temperature {temperature:g}: "
        + ", ".join(f"**{c}** {kind}{'s' if c != 1 and kind != 'new' else ''}" for kind, c in counts.items())
        + ". A held-out word was never trained on: the model spelled a real English word on its own."
    )
    left, right = st.columns([1, 2])
    rows = [{"word": w.word + ("" if w.ended else "..."), "in the lexicon?": w.source} for w in words]
    left.dataframe(rows, hide_index=True, height=300)
    with right:
        pick = st.selectbox(
            "Word to inspect", range(n), format_func=lambda i: words[i].word or "(empty word)", key="app_lm_pick"
        )
        word = words[min(pick, n - 1)]
        steps = len(word.distributions)
        st.session_state["app_lm_step"] = min(st.session_state.get("app_lm_step", 1), steps)
        step = st.slider("Step t (letters read so far + 1)", 1, steps, key="app_lm_step") if steps > 1 else 1
        drawn = SYMBOLS.index(word.word[step - 1]) if step <= len(word.word) else 0
        title = f"Step {step}: p(next | '.{word.word[: step - 1]}') at temperature {temperature:g}"
        figure = figures.next_letter_bars(word.distributions[step - 1].numpy(), SYMBOLS, drawn, title)
        _ui.show_figure(figure, "app_lm_letter", HOW_LETTER)
    tokens = ["start ."] + list(word.word)[: steps - 1]
    title = f"Hidden state h_t while writing '{word.word}'"
    _ui.show_figure(hidden_heatmap(word.hidden.numpy(), tokens, title), "app_lm_states", HOW_STATES)
    arrays = {"distributions": word.distributions.numpy(), "hidden": word.hidden.numpy()}
    settings = {"cell": run.cell, "hidden_size": run.hidden_size, "temperature": temperature, "word": word.word}
    _ui.export_buttons("app_lm_sample", arrays, settings, csv=("distributions", arrays["distributions"]))


def word_losses(text: str, label: str, model) -> None:
    """The loss per character of a typed word under the model and the two counting baselines."""
    read = charlm.read_word(model, text)
    for note in read.notes:
        st.caption(f"Note: {_ui.literal(note)}.")
    losses = {
        label: read.loss.numpy(),
        "bigram": charlm.ngram_losses(charlm.lexicon_ngram(2), [read.word]).numpy(),
        "unigram": charlm.ngram_losses(charlm.lexicon_ngram(1), [read.word]).numpy(),
    }
    title = f"Loss per character of '{read.word}' (perplexity {read.perplexity:.2f})"
    _ui.show_figure(figures.word_losses(read.symbols, losses, title), "app_lm_losses", HOW_LOSSES)
    _ui.export_buttons("app_lm_word", {f"loss_{k}": v for k, v in losses.items()}, {"word": read.word, "model": label})


HOW_LENGTH = (
    "Exact-match accuracy of greedy decoding against the number of digit words in the input. The plain "
    "encoder-decoder must squeeze the whole input into its last state h_S: the lecture's bottleneck predicts it "
    "falls as inputs grow, while attention, which looks back at every h_j, stays near 100%."
)
HOW_ATTENTION = (
    "Row t: where the decoder looked, a_t = softmax over the input characters, when writing output t (each row sums "
    "to 1). A trained model reads the words in order: a diagonal band, each digit attending to its own word."
)


def seq2seq_view(controls, run, models: dict) -> None:
    """Plain and attention encoder-decoders: accuracy against input length, a typed input, its attention."""
    st.info(describe(models) + ".", icon=":material/memory:")
    scores = {NAMES[name]: s["accuracy_by_length"] for name, (_, _, s, _) in models.items()}
    figure = figures.accuracy_by_length(scores, "Where the bottleneck bites: accuracy against input length")
    _ui.show_figure(figure, "app_s2s_length", HOW_LENGTH)
    text, mode = controls.row("app_s2s_text", "app_s2s_decode", widths=[3, 2])
    st.caption(
        "Training always uses teacher forcing (the decoder reads the correct previous digit). **Greedy** decoding "
        "feeds back its own previous output, as in use; **teacher forcing** feeds the correct digits, to show the "
        "attention learned on the right path."
    )
    with _ui.user_errors():
        for name, (model, _, _, _) in models.items():
            result = seq2seq.translate(model, text, teacher_forcing=mode == "teacher forcing")
            truth = "".join(str(d) for d in parse_digit_words(text))
            verdict = "right" if result.digits == truth else f"wrong (expected {truth})"
            st.markdown(
                f"**{NAMES[name]}** ({result.mode}): '{result.text}' -> **{result.digits or '(nothing)'}**, {verdict}"
            )
            if result.attention is not None:
                matrix = result.attention.numpy()
                title = f"Attention of the decoder over the input ({result.mode})"
                figure = figures.attention_matrix(matrix, result.inputs, result.outputs, title)
                _ui.show_figure(figure, "app_s2s_attention", HOW_ATTENTION)
                settings = {"input": result.text, "mode": result.mode, "outputs": result.outputs, **asdict(run.task)}
                _ui.export_buttons("app_s2s", {"attention": matrix}, settings, csv=("attention", matrix))
    if (figure := pretrained_curves(models, "Pretraining: loss and per-symbol accuracy", "accuracy")) is not None:
        how = (
            "Per-symbol accuracy under teacher forcing rises for both; what differs is greedy decoding of long inputs."
        )
        _ui.show_figure(figure, "app_s2s_curves", how)
    live("app_s2s", run, "Plain vs attention, trained live", "accuracy")
