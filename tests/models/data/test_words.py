"""The lexicon's words framed for a character language model: start and end token, padding, batches."""

import pytest
import torch

from models.core.evaluation import IGNORE_INDEX
from models.data import lexicon
from models.data.words import SYMBOLS, VOCAB_SIZE, LexiconWords, frame_words, one_hot, split_words


def test_a_word_is_read_after_the_start_token_and_predicts_the_end_token():
    inputs, targets = frame_words(["deep", "a"])
    d, e, p, a = (SYMBOLS.index(ch) for ch in "depa")
    assert inputs.tolist() == [[0, d, e, e, p], [0, a, -1, -1, -1]]
    assert targets.tolist() == [[d, e, e, p, 0], [a, 0, IGNORE_INDEX, IGNORE_INDEX, IGNORE_INDEX]]
    x = one_hot(inputs)
    assert x.shape == (2, 5, VOCAB_SIZE) and (x[1, 2:] == 0).all() and (x[0].sum(-1) == 1).all()


@pytest.mark.parametrize("words", [["deep", "Deep"], ["two words"], ["caf\u00e9"], []])
def test_anything_but_letters_a_to_z_is_refused(words):
    with pytest.raises(ValueError):
        frame_words(words)


def test_batches_are_training_words_and_the_test_batches_are_every_held_out_word_once():
    data = LexiconWords(batch_size=16)
    x, targets = data.sample(0, torch.Generator().manual_seed(0))
    assert x.shape[0] == 16 and x.shape[1] == targets.shape[1]
    training = set(split_words("train"))
    for row_x, row_t in zip(x, targets, strict=True):
        letters = [SYMBOLS[i] for i in row_t.tolist() if i not in (IGNORE_INDEX, 0)]
        assert "".join(letters) in training
        assert row_x[0].argmax() == 0  # the start token
    counted = sum(int((t == 0).sum()) for _, t in data.test_batches())  # one end token per word
    assert counted == len(split_words("test")) == len(lexicon.split("test")[0])
    assert not training & set(split_words("test"))
