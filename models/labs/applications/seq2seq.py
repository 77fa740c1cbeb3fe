"""Many-to-many with different lengths: an encoder-decoder (Sutskever et al. 2014, Cho et al. 2014) on digits
spelled out in words, with or without attention over the encoder states (Luong et al. 2015, dot product).

The encoder GRU reads the characters x_1..x_S into states h_1..h_S. The plain decoder starts from the last one,
s_0 = h_S, and reads only its own previous symbol: everything about the input must pass through that one
vector. With attention, each decoder state s_t also looks at every encoder state through the package's one
attention, c_t = sum_j a_tj h_j with a_t = softmax(q(s_t) k(h_j)^T / sqrt(d)), and the digit is read from
[s_t ; c_t]. Training uses teacher forcing (the decoder reads the true previous digit); inference decodes
greedily (it reads its own previous argmax).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from models.blocks.attention import MultiHeadAttention
from models.blocks.recurrent import MAX_HIDDEN, RecurrentNet
from models.core.device import model_device
from models.core.engine import StepContext, StepOutput
from models.core.evaluation import IGNORE_INDEX, classification_output, inference
from models.data.seq2seq import (
    END,
    MAX_DIGITS,
    SOURCE_CHARS,
    SOURCE_VOCAB,
    START,
    TARGET_SYMBOLS,
    TARGET_VOCAB,
    DigitWords,
    decode_symbols,
    encode_sources,
    encode_targets,
    parse_digit_words,
    spell,
)

MAX_EMBEDDING = 256


@dataclass
class Seq2SeqTrace:
    """A teacher-forced pass: ``output`` logits ``(B, U, V)`` (as ``forward`` returns them), the encoder states
    h_j ``(B, S, H)``, the decoder states s_t ``(B, U, H)`` and the attention A ``(B, U, S)`` (rows: output
    steps, columns: input characters; None without attention)."""

    output: torch.Tensor
    encoder_states: torch.Tensor
    decoder_states: torch.Tensor
    attention: torch.Tensor | None


@dataclass
class Decoded:
    """A greedy decoding: the symbols written ``(B, steps)`` (each the argmax of its step, read back as the next
    input), their logits ``(B, steps, V)`` and attention ``(B, steps, S)`` (None without attention)."""

    symbols: torch.Tensor
    logits: torch.Tensor
    attention: torch.Tensor | None


class Seq2Seq(nn.Module):
    """GRU encoder and GRU decoder (the package's :class:`RecurrentNet`), with or without attention."""

    def __init__(self, hidden_size: int = 64, embedding_size: int = 32, attention: bool = True):
        super().__init__()
        if not 1 <= hidden_size <= MAX_HIDDEN:
            raise ValueError(f"hidden size must be between 1 and {MAX_HIDDEN}, got {hidden_size}")
        if not 1 <= embedding_size <= MAX_EMBEDDING:
            raise ValueError(f"embedding size must be between 1 and {MAX_EMBEDDING}, got {embedding_size}")
        self.source_embedding = nn.Embedding(SOURCE_VOCAB, embedding_size, padding_idx=0)
        self.encoder = RecurrentNet("gru", embedding_size, hidden_size)
        self.target_embedding = nn.Embedding(TARGET_VOCAB, embedding_size, padding_idx=0)
        self.decoder = RecurrentNet("gru", embedding_size, hidden_size)
        self.attention = MultiHeadAttention(hidden_size, 1) if attention else None
        self.readout = nn.Linear(2 * hidden_size if attention else hidden_size, TARGET_VOCAB)

    def config(self) -> dict:
        return {
            "hidden_size": self.encoder.hidden_size,
            "embedding_size": self.encoder.input_size,
            "attention": self.attention is not None,
        }

    def encode(self, sources: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Encoder states h_1..h_S ``(B, S, H)`` and each input's last one h_S ``(B, H)`` (the encoder reads left to
        right, so the padding after an input's end changes none of its states)."""
        if sources.dim() != 2 or lengths.shape != sources.shape[:1]:
            raise ValueError(
                f"expected sources (B, S) and lengths (B,), got {tuple(sources.shape)}, {tuple(lengths.shape)}"
            )
        if int(lengths.min()) < 1 or int(lengths.max()) > sources.shape[1]:
            raise ValueError(f"source lengths must lie in [1, {sources.shape[1]}]")
        states = self.encoder(self.source_embedding(sources))  # (B, S, H)
        last = states[torch.arange(len(lengths), device=states.device), lengths - 1]
        return states, last

    def decode(
        self, inputs: torch.Tensor, state: torch.Tensor, encoded: torch.Tensor, lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Decoder steps on ``inputs`` ``(B, U)`` from ``state`` ``(1, B, H)``: (logits ``(B, U, V)``, states s_t
        ``(B, U, H)``, the last state ``(1, B, H)``, attention ``(B, U, S)`` or None)."""
        states, last = self.decoder.rnn(self.target_embedding(inputs), state)  # (B, U, H), (1, B, H)
        if self.attention is None:
            return self.readout(states), states, last, None
        B, U, S = *inputs.shape, encoded.shape[1]
        mask = (torch.arange(S, device=encoded.device) < lengths[:, None])[:, None, :].expand(B, U, S)
        attended = self.attention.trace(states, encoded, mask=mask)  # queries s_t, keys and values h_j
        logits = self.readout(torch.cat([states, attended.output], dim=-1))
        return logits, states, last, attended.weights[:, 0]

    def trace(self, sources: torch.Tensor, lengths: torch.Tensor, decoder_inputs: torch.Tensor) -> Seq2SeqTrace:
        """Teacher forcing: the decoder reads ``decoder_inputs`` ("^ d_1 .. d_n"), the true previous symbols."""
        encoded, last = self.encode(sources, lengths)
        logits, states, _, attention = self.decode(decoder_inputs, last[None], encoded, lengths)
        return Seq2SeqTrace(logits, encoded, states, attention)

    def forward(self, sources: torch.Tensor, lengths: torch.Tensor, decoder_inputs: torch.Tensor) -> torch.Tensor:
        return self.trace(sources, lengths, decoder_inputs).output

    def greedy(self, sources: torch.Tensor, lengths: torch.Tensor, max_steps: int = MAX_DIGITS + 1) -> Decoded:
        """Free-running decoding: start from "^", feed back each step's argmax, stop when every output has written
        the end token "$" or after ``max_steps``."""
        encoded, last = self.encode(sources, lengths)
        state, symbol = last[None], torch.full((len(sources), 1), START, device=sources.device)
        logits, attention, symbols = [], [], []
        for _ in range(max_steps):
            step_logits, _, state, weights = self.decode(symbol, state, encoded, lengths)
            symbol = step_logits.argmax(-1)  # (B, 1)
            logits.append(step_logits)
            attention.append(weights)
            symbols.append(symbol)
            if bool((torch.cat(symbols, dim=1) == END).any(dim=1).all()):
                break
        return Decoded(
            torch.cat(symbols, dim=1),
            torch.cat(logits, dim=1),
            torch.cat(attention, dim=1) if self.attention is not None else None,
        )


def seq2seq_step(model: Seq2Seq, batch: tuple, context: StepContext) -> StepOutput:
    """The engine's step (teacher forcing): cross-entropy per output symbol, its accuracy, and the share of
    outputs with every symbol right."""
    sources, lengths, decoder_inputs, targets = batch
    logits = model(sources, lengths, decoder_inputs)
    output = classification_output(logits, targets)
    wrong = (logits.detach().argmax(-1) != targets) & (targets != IGNORE_INDEX)
    output.metrics["exact"] = (~wrong.any(dim=1)).float().mean()
    return output


def exact_matches(model: Seq2Seq, batch: tuple) -> torch.Tensor:
    """Per input of ``batch``, whether greedy decoding writes exactly the target digits (bool ``(B,)``)."""
    sources, lengths, _, targets = batch
    device = model_device(model)
    with inference(model):
        decoded = model.greedy(sources.to(device), lengths.to(device)).symbols.cpu()
    return torch.tensor(
        [decode_symbols(d.tolist()) == decode_symbols(t.tolist()) for d, t in zip(decoded, targets, strict=True)]
    )


def accuracy_by_length(model: Seq2Seq, task: DigitWords) -> dict[int, float]:
    """Exact-match accuracy of greedy decoding on the test inputs of each number of digits (input words)."""
    return {length: float(exact_matches(model, batch).float().mean()) for length, batch in task.test_sets()}


@dataclass
class Translation:
    """One typed input: the digits written, the input characters (columns) and output symbols (rows) of the
    attention matrix ``(steps, S)`` (None without attention), and how the decoder was fed: ``"greedy"`` (its own
    previous output) or ``"teacher forcing"`` (the correct previous digit)."""

    text: str
    digits: str
    inputs: list[str]
    outputs: list[str]
    attention: torch.Tensor | None
    mode: str


def translate(model: Seq2Seq, text: str, teacher_forcing: bool = False) -> Translation:
    """Digits in words -> digits, greedily (or teacher-forced with the correct digits, to show the attention the
    model learned on the right path); a ValueError explains an input it cannot read."""
    digits = parse_digit_words(text)
    source = spell(digits)
    sources, lengths = encode_sources([source])
    device = model_device(model)
    sources, lengths = sources.to(device), lengths.to(device)
    with inference(model):
        if teacher_forcing:
            decoder_inputs, _ = encode_targets([digits])
            trace = model.trace(sources, lengths, decoder_inputs.to(device))
            symbols, attention = trace.output.argmax(-1)[0].cpu(), trace.attention
        else:
            decoded = model.greedy(sources, lengths)
            symbols, attention = decoded.symbols[0].cpu(), decoded.attention
    return Translation(
        text=source,
        digits=decode_symbols(symbols.tolist()),
        inputs=[SOURCE_CHARS[i] for i in sources[0].tolist()],
        outputs=[TARGET_SYMBOLS[i] for i in symbols.tolist()],
        attention=attention[0].cpu() if attention is not None else None,
        mode="teacher forcing" if teacher_forcing else "greedy",
    )
