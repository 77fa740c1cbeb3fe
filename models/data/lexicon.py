"""The lecture's toy grammatical analysis ("deep" => adj) on real data.

Words from the part-of-speech lexicon that ships with the ``textblob`` package
(``textblob/en/en-lexicon.txt``, Brill's tagger lexicon, Brown corpus + Penn Treebank), read as a
plain file (textblob itself is never imported). Penn tags are mapped to four classes (NN* noun,
VB* verb, JJ* adjective, RB* adverb); words of lower-case letters a-z only are kept (about 42,000).
A word is read character by character as one-hot vectors x_t in R^26 and classified at its last step.
"""

from __future__ import annotations

import importlib.util
import unicodedata
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

ALPHABET = "abcdefghijklmnopqrstuvwxyz"
CLASSES = ("noun", "verb", "adjective", "adverb")
TAG_PREFIXES = {"NN": "noun", "VB": "verb", "JJ": "adjective", "RB": "adverb"}
MAX_WORD_LENGTH = 30
TEST_PERCENT = 20
TEST_BATCH = 2048
EXAMPLES = ("deep", "quickly", "table", "run", "beautiful", "walked", "slowly", "house", "happy", "eating")


def textblob_file(name: str) -> Path:
    """``textblob/en/<name>`` inside the installed package, found without importing it."""
    spec = importlib.util.find_spec("textblob")
    if spec is None or not spec.submodule_search_locations:
        raise ValueError("the textblob package is not installed: `pip install textblob` (its lexicon is the data)")
    path = Path(next(iter(spec.submodule_search_locations))) / "en" / name
    if not path.is_file():
        raise ValueError(f"textblob is installed but has no {name} at {path}")
    return path


def lexicon_path() -> Path:
    return textblob_file("en-lexicon.txt")


@lru_cache(maxsize=1)
def word_counts() -> dict[str, int]:
    """How often each word occurs in running English text: textblob's ``en-spelling.txt`` (Norvig's counts over
    Project Gutenberg books, Wiktionary and the British National Corpus), about 29,000 words."""
    counts = {}
    with textblob_file("en-spelling.txt").open(encoding="utf-8") as file:
        for line in file:
            parts = line.split()
            if len(parts) == 2 and not line.startswith(";;;") and parts[1].isdigit():
                counts[parts[0]] = int(parts[1])
    return counts


@lru_cache(maxsize=2)
def text_shares(name: str) -> torch.Tensor:
    """Each word of split ``name``'s share of running text: (its count + 1) / the sum over the split."""
    counts = torch.tensor([1.0 + word_counts().get(w, 0) for w in split(name)[0]], dtype=torch.float64)
    return counts / counts.sum()


def sampling_weights(name: str, mix: float) -> torch.Tensor:
    """How often each word of split ``name`` is drawn: a ``mix`` of draws as often as the word occurs in running
    text, the rest uniform over the words; sums to 1."""
    shares = text_shares(name)
    return (1 - mix) / len(shares) + mix * shares


def map_tag(tag: str) -> str | None:
    """Penn Treebank tag -> one of :data:`CLASSES` (first tag of an ambiguous "NN|JJ"), else None."""
    return TAG_PREFIXES.get(tag.split("|")[0][:2])


def parse_lexicon(lines) -> dict[str, str]:
    """``word TAG`` lines -> {word: class} for words of letters a-z whose tag maps to a class."""
    words = {}
    for line in lines:
        parts = line.split()
        if len(parts) < 2 or line.startswith(";;;"):
            continue
        word, tag = parts[0], parts[1]
        label = map_tag(tag)
        if label is not None and word.isascii() and word.isalpha() and word.islower():
            words.setdefault(word, label)
    return words


@lru_cache(maxsize=1)
def load_lexicon() -> dict[str, str]:
    """{word: class} from textblob's lexicon (cached; about 42,000 words)."""
    with lexicon_path().open(encoding="utf-8") as file:
        return parse_lexicon(file)


def is_test_word(word: str) -> bool:
    """Deterministic held-out split: a word is in the test set if crc32(word) % 100 < TEST_PERCENT."""
    return zlib.crc32(word.encode()) % 100 < TEST_PERCENT


@lru_cache(maxsize=2)
def split(name: str) -> tuple[tuple[str, ...], torch.Tensor]:
    """The ``"train"`` or ``"test"`` words (sorted) and their class indices."""
    if name not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {name!r}")
    lexicon = load_lexicon()
    words = tuple(sorted(w for w in lexicon if is_test_word(w) == (name == "test")))
    labels = torch.tensor([CLASSES.index(lexicon[w]) for w in words])
    return words, labels


def clean_word(text: str) -> tuple[str, list[str]]:
    """A typed word -> (letters a-z, notes on what was changed); raises ValueError when unusable.

    Defined handling: surrounding spaces are stripped, upper case is lowered and accents are removed
    (each with a note); an empty word, inner spaces, digits or other symbols, non-Latin letters and
    words longer than :data:`MAX_WORD_LENGTH` letters are refused with a message saying why.
    """
    notes = []
    word = text.strip()
    if word != text:
        notes.append("removed surrounding spaces")
    if not word:
        raise ValueError("type a word (letters a-z)")
    if len(word) > MAX_WORD_LENGTH:
        raise ValueError(f"the word has {len(word)} characters; at most {MAX_WORD_LENGTH} letters")
    if any(ch.isspace() for ch in word):
        raise ValueError("one word only: remove the spaces inside it")
    folded = "".join(ch for ch in unicodedata.normalize("NFKD", word) if not unicodedata.combining(ch))
    if folded != word and folded.isascii():
        notes.append(f"removed accents ({word} -> {folded})")
    if folded.lower() != folded:
        notes.append("lower-cased")
    folded = folded.lower()
    bad = sorted({ch for ch in folded if ch not in ALPHABET})
    if bad:
        kinds = "digits" if all(ch.isdigit() for ch in bad) else "characters"
        raise ValueError(f"letters a-z only; these {kinds} are not: {' '.join(repr(ch) for ch in bad)}")
    return folded, notes


def character_indices(words: list[str] | tuple[str, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """Letter indices right-padded with -1, ``(B, T_max)``, and lengths ``(B,)``: one pass over all letters at
    once (the 34 000 training words in milliseconds, not a second of the server's Python per new trainer)."""
    lengths = torch.tensor([len(w) for w in words])
    joined = "".join(words)
    if bad := set(joined) - set(ALPHABET):
        raise ValueError(f"letters a-z only, got {sorted(bad)}")
    letters = torch.from_numpy(np.frombuffer(joined.encode("ascii"), np.uint8) - ord("a")).long()  # (sum of lengths,)
    index = torch.full((len(words), int(lengths.max())), -1, dtype=torch.long)
    index[torch.arange(index.shape[1]) < lengths[:, None]] = letters  # row by row, as joined
    return index, lengths


def one_hot(index: torch.Tensor) -> torch.Tensor:
    """Letter indices ``(B, T)`` (-1 = padding) -> one-hot x_t ``(B, T, 26)`` (padding = 0)."""
    return F.one_hot(index.clamp(min=0), len(ALPHABET)).float() * (index >= 0)[..., None]


def encode_words(words: list[str] | tuple[str, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """One-hot characters, right-padded: x ``(B, T_max, 26)`` and lengths ``(B,)``."""
    index, lengths = character_indices(words)
    return one_hot(index), lengths


@lru_cache(maxsize=2)
def encoded_split(name: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The split as (letter indices (N, T_max), lengths (N,), labels (N,))."""
    words, labels = split(name)
    return (*character_indices(words), labels)


def labelled(words: list[str] | tuple[str, ...]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A batch ``(x, lengths, y)`` of words with their lexicon classes (noun for a word not in the lexicon)."""
    lexicon = load_lexicon()
    x, lengths = encode_words(words)
    return x, lengths, torch.tensor([CLASSES.index(lexicon.get(w, "noun")) for w in words])


def display_words(n: int) -> tuple[str, ...]:
    """``n`` words to show: the lecture's examples first, then held-out words of 4 to 9 letters, spread over each
    class's list and taken from the classes in turn."""
    words, labels = split("test")
    per_class = -(-n // len(CLASSES))
    spaced = []
    for k in range(len(CLASSES)):
        pool = [w for w, y in zip(words, labels.tolist(), strict=True) if y == k and 4 <= len(w) <= 9]
        spaced.append(pool[:: max(1, len(pool) // per_class)][:per_class])
    in_turn = [pool[i] for i in range(per_class) for pool in spaced if i < len(pool)]
    return tuple(dict.fromkeys(EXAMPLES + tuple(in_turn)))[:n]


def split_batches(name: str) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Every word of split ``name`` once, ``(x, lengths, labels)`` in batches of ``TEST_BATCH``."""
    index, lengths, labels = encoded_split(name)
    for start in range(0, len(labels), TEST_BATCH):
        part = slice(start, start + TEST_BATCH)
        yield one_hot(index[part]), lengths[part], labels[part]


@dataclass(frozen=True)
class PartOfSpeech:
    """Batches of training words: (x (B, T, 26), lengths (B,), class (B,)); many-to-one.

    A ``frequency_mix`` of each batch is drawn as often as the words occur in running English text (so a common
    word like "deep" is seen often, as a reader sees it), the rest uniformly over the lexicon's words. With
    ``mix_ramp`` steps the mix grows from 0 to ``frequency_mix`` over that many steps: the network first learns
    the spelling rules from every word alike, then the common words, irregular ones included.
    """

    batch_size: int = 128
    frequency_mix: float = 0.0
    mix_ramp: int = 0
    mapping = "many_to_one"
    kind = "classification"
    input_size = len(ALPHABET)
    output_size = len(CLASSES)
    classes = CLASSES
    knobs = ()
    memory_span = None
    equal_length = False

    @property
    def chance(self) -> float:
        """Always answering the most common class of the training words."""
        labels = split("train")[1]
        return float(labels.bincount().max() / len(labels))

    def __post_init__(self):
        if not 1 <= self.batch_size <= 1024:
            raise ValueError(f"batch size must be between 1 and 1024, got {self.batch_size}")
        if not 0 <= self.frequency_mix <= 1:
            raise ValueError(f"the frequency mix must be between 0 and 1, got {self.frequency_mix}")
        if self.mix_ramp < 0:
            raise ValueError(f"the mix's ramp must be at least 0 steps, got {self.mix_ramp}")

    def sample(self, step: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        index, lengths, labels = encoded_split("train")
        mix = self.frequency_mix * (min(1.0, step / self.mix_ramp) if self.mix_ramp else 1.0)
        if mix:
            pick = torch.multinomial(
                sampling_weights("train", mix), self.batch_size, replacement=True, generator=generator
            )
        else:
            pick = torch.randint(len(labels), (self.batch_size,), generator=generator)
        chosen = lengths[pick]
        return one_hot(index[pick, : int(chosen.max())]), chosen, labels[pick]

    def test_batches(self) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """The held-out words, each once, in batches of ``TEST_BATCH``."""
        return split_batches("test")

    def training_batches(self) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """The training words, each once (how well the model fits the words it learned from)."""
        return split_batches("train")

    def display_batch(self, n: int) -> tuple[tuple[torch.Tensor, torch.Tensor, torch.Tensor], list[str]]:
        words = display_words(n)
        return labelled(words), list(words)

    def token_labels(self, x: torch.Tensor) -> list[str]:
        """The letters of one word ``(T, 26)`` (padding steps, all zero, become spaces)."""
        return [ALPHABET[int(i)] if float(row.max()) > 0 else " " for i, row in zip(x.argmax(-1), x, strict=True)]

    def label_names(self, targets: torch.Tensor) -> list[str]:
        return [CLASSES[int(i)] for i in targets]


@dataclass(frozen=True)
class WordLesson:
    """Training batches with ``copies`` copies of one labelled ``word`` among random training words."""

    word: str
    label: int
    copies: int = 8
    batch_size: int = 128
    mapping = "many_to_one"
    kind = "classification"

    def __post_init__(self):
        clean_word(self.word)
        if not 0 <= self.label < len(CLASSES):
            raise ValueError(f"class must be one of {CLASSES}, got index {self.label}")
        if not 1 <= self.copies < self.batch_size:
            raise ValueError(f"copies must be between 1 and {self.batch_size - 1}, got {self.copies}")

    def sample(self, step: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        words, labels = split("train")
        pick = torch.randint(len(words), (self.batch_size - self.copies,), generator=generator)
        x, lengths = encode_words([words[i] for i in pick.tolist()] + [self.word] * self.copies)
        return x, lengths, torch.cat([labels[pick], torch.full((self.copies,), self.label)])


def same_ending(word: str, length: int = 3) -> tuple[str, list[tuple[str, str]]]:
    """The training words other than ``word`` that end in its last ``length`` letters, with their classes."""
    suffix = word[-length:]
    words, labels = split("train")
    return suffix, [
        (w, CLASSES[y]) for w, y in zip(words, labels.tolist(), strict=True) if w.endswith(suffix) and w != word
    ]


def suffix_classes(word: str, length: int = 3) -> tuple[str, dict[str, int]]:
    """How the training words that end like ``word`` (its last ``length`` letters) are labelled."""
    suffix, neighbours = same_ending(word, length)
    counts = dict.fromkeys(CLASSES, 0)
    for _, label in neighbours:
        counts[label] += 1
    return suffix, counts
