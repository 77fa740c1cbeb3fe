"""The character language model: n-gram baselines against closed forms counted here, the loss per character and
perplexity, the next-letter distributions along a word, sampling with temperature and prefix, bad inputs."""

import math
from collections import Counter

import pytest
import torch

from models.data.lexicon import MAX_WORD_LENGTH
from models.data.words import SYMBOLS, frame_words, one_hot, split_words
from models.labs.applications.charlm import (
    baselines,
    build_charlm,
    lexicon_ngram,
    ngram_losses,
    ngram_perplexity,
    perplexity,
    read_word,
    sample_words,
    word_source,
)
from models.labs.applications.pretrain import train_model
from models.labs.applications.spec import default_run, evaluate

V = len(SYMBOLS)


def counted_perplexity(train, test, order, alpha):
    """exp(-mean log p) of the add-alpha n-gram model, counted with Counter over the framed words ".word."."""
    if order == 1:
        counts = Counter(ch for w in train for ch in w + ".")
        total = sum(counts.values())
        logs = [math.log((counts[ch] + alpha) / (total + alpha * V)) for w in test for ch in w + "."]
    else:
        pairs = Counter(p for w in train for p in zip("." + w, w + ".", strict=True))
        previous = Counter(ch for w in train for ch in "." + w)
        logs = [
            math.log((pairs[p] + alpha) / (previous[p[0]] + alpha * V))
            for w in test
            for p in zip("." + w, w + ".", strict=True)
        ]
    return math.exp(-sum(logs) / len(logs))


@pytest.mark.parametrize("order", [1, 2])
@pytest.mark.parametrize("alpha", [1.0, 0.1])
def test_ngram_perplexity_is_the_closed_form(order, alpha):
    train, test = ["ab", "abc", "b", "cab"], ["ab", "ca", "zz"]
    assert ngram_perplexity(train, test, order, alpha) == pytest.approx(counted_perplexity(train, test, order, alpha))


def test_an_unsmoothed_unigram_on_its_own_words_has_the_perplexity_exp_entropy():
    words = ["aab", "b", "ba"]
    symbols = Counter("aab.b.ba.")
    n = sum(symbols.values())
    entropy = -sum(c / n * math.log(c / n) for c in symbols.values())
    assert ngram_perplexity(words, words, 1, alpha=0.0) == pytest.approx(math.exp(entropy))


def test_the_lexicon_baselines_are_counted_from_the_training_words_and_scored_on_held_out_words():
    train, test = split_words("train"), split_words("test")
    found = baselines()
    assert found.unigram == pytest.approx(counted_perplexity(train, test, 1, 1.0), rel=1e-9)
    assert found.bigram == pytest.approx(counted_perplexity(train, test, 2, 1.0), rel=1e-9)
    assert found.bigram < found.unigram < V


def test_the_bigram_loss_per_character_of_a_word_is_minus_log_its_counted_probability():
    train = split_words("train")
    pairs = Counter(p for w in train for p in zip("." + w, w + ".", strict=True))
    previous = Counter(ch for w in train for ch in "." + w)
    expected = [-math.log((pairs[p] + 1) / (previous[p[0]] + V)) for p in zip(".deep", "deep.", strict=True)]
    torch.testing.assert_close(ngram_losses(lexicon_ngram(2), ["deep"]), torch.tensor(expected, dtype=torch.float64))


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_reading_a_word_gives_a_distribution_loss_and_state_per_step(cell):
    model = build_charlm(cell, 16)
    steps = read_word(model, " Deep")
    assert steps.word == "deep" and steps.symbols == ["d", "e", "e", "p", "."]
    assert steps.notes  # it says what it changed
    torch.testing.assert_close(steps.distributions.sum(-1), torch.ones(5))
    true = torch.tensor([SYMBOLS.index(s) for s in steps.symbols])
    torch.testing.assert_close(steps.loss, -steps.distributions[torch.arange(5), true].log())
    assert steps.hidden.shape == (5, 16)
    assert (steps.cell is not None) == (cell == "lstm")
    with torch.no_grad():
        fused = model(one_hot(frame_words(["deep"])[0]))[0].softmax(-1)
    torch.testing.assert_close(steps.distributions, fused)


def test_perplexity_is_exp_of_the_mean_loss_per_character_over_all_words():
    model = build_charlm("lstm", 8)
    words = ["deep", "a", "learning"]
    inputs, targets = frame_words(words)
    losses = torch.cat([read_word(model, w).loss for w in words])
    assert perplexity(model, [(one_hot(inputs), targets)]) == pytest.approx(math.exp(float(losses.mean())), rel=1e-5)


def test_sampling_draws_words_from_the_start_token_and_keeps_a_prefix():
    model = build_charlm("gru", 16)
    words = sample_words(model, 20, temperature=1.0, seed=3)
    assert len(words) == 20 and words[0].word == sample_words(model, 20, 1.0, seed=3)[0].word
    for sampled in words:
        assert set(sampled.word) <= set(SYMBOLS[1:]) and len(sampled.word) <= MAX_WORD_LENGTH
        steps = len(sampled.word) + sampled.ended
        assert sampled.distributions.shape == (steps, V) and sampled.hidden.shape == (steps, 16)
        torch.testing.assert_close(sampled.distributions.sum(-1), torch.ones(steps))
        assert sampled.source in ("training word", "held-out lexicon word", "new")
    prefixed = sample_words(model, 5, 1.0, seed=0, prefix="Th")
    assert all(w.word.startswith("th") for w in prefixed)


def test_a_lower_temperature_sharpens_the_distributions():
    torch.manual_seed(0)
    model = build_charlm("lstm", 16)
    cold = sample_words(model, 30, temperature=0.3, seed=1)
    hot = sample_words(model, 30, temperature=3.0, seed=1)
    assert cold[0].distributions[0].max() > hot[0].distributions[0].max()  # the same first step, two temperatures


def test_words_are_marked_as_in_the_lexicon_or_new():
    train, test = split_words("train"), split_words("test")
    assert word_source(train[100]) == "training word"
    assert word_source(test[100]) == "held-out lexicon word"
    assert word_source("qzxwv") == "new"


@pytest.mark.parametrize("text", ["", "   ", "deep learning", "日本語", "x" * 31, "d33p"])
def test_reading_a_bad_word_is_refused_with_a_value_error(text):
    with pytest.raises(ValueError):
        read_word(build_charlm("lstm", 4), text)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"temperature": 0.0}, "temperature"),
        ({"temperature": 50.0}, "temperature"),
        ({"temperature": float("nan")}, "temperature"),
        ({"n": 0}, "number of words"),
        ({"n": 10**6}, "number of words"),
        ({"prefix": "ab1"}, "letters"),
        ({"prefix": "日本"}, "letters a-z"),
        ({"prefix": "x" * 30}, "at most"),
    ],
)
def test_sampling_with_bad_settings_is_refused_with_a_value_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        sample_words(build_charlm("lstm", 4), **kwargs)


@pytest.mark.slow
def test_the_default_model_beats_both_baselines_within_its_budget():
    run = default_run("charlm")
    model, meta = train_model(run)
    scores = meta["scores"]
    assert meta["steps"] == run.train.steps
    assert scores["perplexity"] < scores["bigram"] < scores["unigram"]
    assert scores["perplexity"] == pytest.approx(evaluate(run, model)["perplexity"])
