"""Digits in words: spelling and parsing, the encoded batches (start and end tokens, padding), fixed test sets,
and clear messages for inputs that cannot be read."""

import pytest
import torch

from models.core.evaluation import IGNORE_INDEX
from models.data.seq2seq import (
    END,
    MAX_CHARS,
    PAD,
    SOURCE_CHARS,
    START,
    TARGET_SYMBOLS,
    DigitWords,
    decode_symbols,
    encode_sources,
    make_batch,
    parse_digit_words,
    spell,
)


def test_spelling_and_parsing_are_inverse_and_forgiving_about_case_and_spaces():
    assert spell([4, 0, 7]) == "four zero seven"
    assert parse_digit_words("  Four   ZERO seven ") == [4, 0, 7]
    digits = torch.randint(10, (12,), generator=torch.Generator().manual_seed(0)).tolist()
    assert parse_digit_words(spell(digits)) == digits


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "type some digits"),
        ("   ", "type some digits"),
        ("vier zwei", "digit words only"),
        ("four twelve", "twelve"),
        ("fünf", "ASCII"),
        ("four\u00a0two", "ASCII"),
        ("one " * 17, "at most 16"),
        ("x" * (MAX_CHARS + 1), "characters"),
        ("four, two", "digit words only"),
    ],
)
def test_inputs_that_cannot_be_read_are_refused_with_the_reason(text, message):
    with pytest.raises(ValueError, match=message):
        parse_digit_words(text)


def test_a_batch_reads_characters_and_writes_digits_between_start_and_end():
    sources, lengths, decoder_inputs, targets = make_batch([[4, 2], [7]])
    assert lengths.tolist() == [len("four two"), len("seven")]
    assert "".join(SOURCE_CHARS[i] for i in sources[0].tolist()) == "four two"
    assert (sources[1, lengths[1] :] == PAD).all()
    assert decoder_inputs.tolist() == [[START, 4 + 3, 2 + 3], [START, 7 + 3, PAD]]
    assert targets.tolist() == [[4 + 3, 2 + 3, END], [7 + 3, END, IGNORE_INDEX]]
    assert decode_symbols(targets[0].tolist()) == "42" and decode_symbols(targets[1].tolist()) == "7"
    assert TARGET_SYMBOLS[END] == "$" and TARGET_SYMBOLS[START] == "^"


def test_inputs_are_several_times_longer_than_outputs():
    task = DigitWords(1, 10, batch_size=256)
    sources, lengths, _, targets = task.sample(0, torch.Generator().manual_seed(0))
    out_lengths = (targets != IGNORE_INDEX).sum(1)  # digits + end token
    assert (lengths >= 3 * (out_lengths - 1)).all() and not torch.equal(lengths, out_lengths)
    assert sources.shape[1] == int(lengths.max())


def test_the_test_sets_cover_every_length_and_are_fixed():
    task = DigitWords(2, 5)
    sets = list(task.test_sets())
    assert [length for length, _ in sets] == [2, 3, 4, 5]
    for length, (_, _, _, targets) in sets:
        assert ((targets != IGNORE_INDEX).sum(1) == length + 1).all()
    again = list(task.test_sets())
    assert all(torch.equal(a[1][0], b[1][0]) for a, b in zip(sets, again, strict=True))


def test_encoding_refuses_characters_outside_the_vocabulary():
    with pytest.raises(ValueError, match="'-'"):
        encode_sources(["four-two"])


@pytest.mark.parametrize(
    "kwargs", [{"min_digits": 0}, {"min_digits": 5, "max_digits": 4}, {"max_digits": 17}, {"batch_size": 0}]
)
def test_settings_that_cannot_work_are_refused(kwargs):
    with pytest.raises(ValueError):
        DigitWords(**kwargs)
