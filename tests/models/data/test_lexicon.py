"""The part-of-speech data: textblob's lexicon read as a file, tag mapping, held-out split, word cleaning."""

import subprocess
import sys

import pytest
import torch

from models.data import lexicon as P


def test_lexicon_size_classes_and_deep_is_an_adjective():
    lexicon = P.load_lexicon()
    assert 40_000 < len(lexicon) < 44_000
    assert set(lexicon.values()) == set(P.CLASSES)
    assert lexicon["deep"] == "adjective"
    assert lexicon["quickly"] == "adverb"
    assert all(word.isascii() and word.isalpha() and word.islower() for word in lexicon)


def test_tag_mapping_and_parsing():
    assert [P.map_tag(t) for t in ("NN", "NNS", "VBD", "JJR", "RBS", "NN|JJ", "IN", "CD")] == [
        "noun",
        "noun",
        "verb",
        "adjective",
        "adverb",
        "noun",
        None,
        None,
    ]
    lines = [";;; comment JJ", "deep JJ", "Paris NNP", "well-known JJ", "of IN", "ran VBD", "x2 NN", "ran NN"]
    assert P.parse_lexicon(lines) == {"deep": "adjective", "ran": "verb"}


def test_reads_the_file_without_importing_textblob():
    code = "import sys; from models.data import lexicon as P; P.load_lexicon(); print('textblob' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_held_out_split_is_deterministic_disjoint_and_about_a_fifth():
    train, train_labels = P.split("train")
    test, test_labels = P.split("test")
    assert not set(train) & set(test)
    assert len(train) + len(test) == len(P.load_lexicon())
    assert 0.17 < len(test) / (len(train) + len(test)) < 0.23
    lexicon = P.load_lexicon()
    assert all(P.CLASSES[int(y)] == lexicon[w] for w, y in zip(test[:500], test_labels[:500], strict=True))
    assert all(P.is_test_word(w) for w in test[:100]) and not any(P.is_test_word(w) for w in train[:100])
    with pytest.raises(ValueError, match="split"):
        P.split("validation")


def test_encoding_is_one_hot_and_padded():
    x, lengths = P.encode_words(["deep", "a"])
    assert x.shape == (2, 4, 26) and lengths.tolist() == [4, 1]
    assert [int(i) for i in x[0].argmax(-1)] == [3, 4, 4, 15]
    assert x[1, 1:].sum() == 0 and x[1, 0, 0] == 1


def test_letter_indices_of_every_training_word_match_their_letters():
    words, _ = P.split("train")
    index, lengths = P.character_indices(words)
    assert lengths.tolist() == [len(w) for w in words]
    sample = range(0, len(words), 97)
    assert all(index[i, : len(words[i])].tolist() == [ord(ch) - ord("a") for ch in words[i]] for i in sample)
    assert all((index[i, len(words[i]) :] == -1).all() for i in sample)
    with pytest.raises(ValueError, match="a-z"):
        P.character_indices(["deep", "naïve"])


def test_batches():
    x, lengths, y = P.PartOfSpeech(batch_size=16).sample(0, torch.Generator().manual_seed(0))
    assert x.shape[0] == 16 and x.shape[1] == int(lengths.max()) and x.shape[2] == 26
    assert torch.equal(x.sum(dim=(1, 2)).long(), lengths)
    assert y.min() >= 0 and y.max() < 4


@pytest.mark.parametrize(
    ("text", "word", "note"),
    [
        ("deep", "deep", None),
        ("  Deep ", "deep", "lower-cased"),
        ("café", "cafe", "accents"),
    ],
)
def test_clean_word_defined_handling(text, word, note):
    cleaned, notes = P.clean_word(text)
    assert cleaned == word
    assert (note is None and not notes) or any(note in n for n in notes)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "type a word"),
        ("   ", "type a word"),
        ("deep learning", "one word"),
        ("deep2", "digits"),
        ("日本", "letters a-z only"),
        ("don't", "letters a-z only"),
        ("a" * 500, "at most 30"),
    ],
)
def test_clean_word_refuses_unusable_words(text, message):
    with pytest.raises(ValueError, match=message):
        P.clean_word(text)


def test_suffix_classes_count_training_words_with_the_same_ending():
    suffix, counts = P.suffix_classes("deep")
    words, labels = P.split("train")
    expected = sum(1 for w in words if w.endswith("eep") and w != "deep")
    assert suffix == "eep" and sum(counts.values()) == expected > 0
    assert counts["noun"] == sum(
        1 for w, y in zip(words, labels.tolist(), strict=True) if w.endswith("eep") and y == 0 and w != "deep"
    )


def test_word_lesson_batches_hold_the_word_with_its_class():
    lesson = P.WordLesson("deep", label=2, copies=8, batch_size=32)
    x, lengths, y = lesson.sample(0, torch.Generator().manual_seed(0))
    assert x.shape[0] == y.shape[0] == lengths.shape[0] == 32
    deep, _ = P.encode_words(["deep"])
    for row in range(24, 32):
        assert torch.equal(x[row, :4], deep[0]) and y[row] == 2 and lengths[row] == 4
        assert (x[row, 4:] == 0).all()
    words, labels = P.split("train")
    first = P.encode_words([words[0]])[0]
    assert first.shape[-1] == x.shape[-1] == 26


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"word": "d33p", "label": 2}, "digits"),
        ({"word": "deep", "label": 4}, "class"),
        ({"word": "deep", "label": 0, "copies": 0}, "copies"),
    ],
)
def test_word_lesson_refuses_bad_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        P.WordLesson(**kwargs)


def test_same_ending_lists_the_other_training_words_with_their_classes():
    suffix, neighbours = P.same_ending("deep")
    assert suffix == "eep" and ("sheep", "noun") in neighbours and ("keep", "verb") in neighbours
    assert all(w.endswith("eep") and w != "deep" for w, _ in neighbours)


def test_test_batches_cover_the_held_out_split_once():
    words, labels = P.split("test")
    batches = list(P.PartOfSpeech().test_batches())
    assert sum(len(y) for _, _, y in batches) == len(words)
    assert torch.equal(torch.cat([y for _, _, y in batches]), labels)
    x, lengths, _ = batches[0]
    assert torch.equal(x.sum(dim=(1, 2)).long(), lengths)


def test_display_words_lead_with_the_lecture_examples_then_take_the_classes_in_turn():
    assert P.display_words(4) == P.EXAMPLES[:4]
    words = P.display_words(24)
    assert len(words) == len(set(words)) == 24 and words[: len(P.EXAMPLES)] == P.EXAMPLES
    lexicon = P.load_lexicon()
    rest = [lexicon[w] for w in words[len(P.EXAMPLES) :]]
    assert set(rest) == set(P.CLASSES)
    (x, lengths, y), names = P.PartOfSpeech().display_batch(6)
    assert names == list(P.EXAMPLES[:6]) and P.CLASSES[int(y[0])] == "adjective"
    assert P.PartOfSpeech().token_labels(x[0, : int(lengths[0])]) == list("deep")


def test_word_counts_come_from_textblobs_spelling_list_and_weights_mix_text_and_uniform():
    counts = P.word_counts()
    assert 28_000 < len(counts) < 30_000 and counts["deep"] == 215 and counts["the"] > 50_000
    words = P.split("train")[0]
    uniform, mixed = P.sampling_weights("train", 0.0), P.sampling_weights("train", 0.5)
    assert float(uniform.sum()) == pytest.approx(1.0) and float(mixed.sum()) == pytest.approx(1.0)
    assert torch.allclose(uniform, torch.full_like(uniform, 1 / len(words)))
    deep, sheep = words.index("deep"), words.index("sheep")
    shares = P.text_shares("train")
    assert float(shares[deep] / shares[sheep]) == pytest.approx((1 + 215) / (1 + 24))
    assert float(mixed[deep]) == pytest.approx(0.5 / len(words) + 0.5 * float(shares[deep]))


def test_the_mix_ramps_up_from_uniform_draws():
    task = P.PartOfSpeech(batch_size=256, frequency_mix=1.0, mix_ramp=100)
    words = P.split("train")[0]
    common = {w for w, c in P.word_counts().items() if c >= 100}

    def share_of_common(step):
        x, lengths, _ = task.sample(step, torch.Generator().manual_seed(step))
        drawn = ["".join(P.ALPHABET[int(i)] for i in row[:n].argmax(-1)) for row, n in zip(x, lengths, strict=True)]
        return sum(w in common for w in drawn) / len(drawn)

    uniform_share = sum(w in common for w in words) / len(words)
    assert share_of_common(0) < 3 * uniform_share < share_of_common(100)
    with pytest.raises(ValueError, match="frequency mix"):
        P.PartOfSpeech(frequency_mix=1.5)
