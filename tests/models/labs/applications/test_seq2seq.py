"""The encoder-decoder: attention rows are distributions over the real input characters, teacher-forced and
free-running decoding agree where the prefix is right, padding changes nothing, typed inputs are checked, and
(slow) attention keeps long inputs right while the plain model degrades with length."""

import copy
import dataclasses

import pytest
import torch

from models.core.engine import TrainConfig
from models.data.seq2seq import END, DigitWords, decode_symbols, encode_sources, encode_targets, make_batch
from models.labs.applications.pretrain import train_model
from models.labs.applications.seq2seq import Seq2Seq, accuracy_by_length, exact_matches, translate
from models.labs.applications.spec import Seq2SeqRun, build_trainer, default_run

SHORT = DigitWords(1, 5, batch_size=64)


@pytest.fixture(scope="module")
def trained():
    """An attention model trained for a few seconds on up to five digits (on one thread: the module's fixture is
    made before the suite's per-test thread setting)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    run = Seq2SeqRun(hidden_size=32, task=SHORT, train=TrainConfig(steps=250, lr=1e-2, clip_norm=1.0))
    trainer = build_trainer(run, device="cpu")
    trainer.run()
    torch.set_num_threads(threads)
    return trainer.model.eval()


def test_attention_rows_are_distributions_over_the_real_input_characters():
    torch.manual_seed(0)
    model = Seq2Seq(16, 8, attention=True)
    sources, lengths, decoder_inputs, _ = make_batch([[4, 2, 7], [1]])
    with torch.no_grad():
        trace = model.trace(sources, lengths, decoder_inputs)
        torch.testing.assert_close(trace.output, model(sources, lengths, decoder_inputs))
    assert trace.attention.shape == (2, 4, sources.shape[1])
    torch.testing.assert_close(trace.attention.sum(-1), torch.ones(2, 4))
    assert (trace.attention[1, :, lengths[1] :] == 0).all()  # no weight on the padding
    assert dataclasses.is_dataclass(trace) and type(trace).__name__ == "Seq2SeqTrace"


def test_the_plain_model_has_no_attention_and_reads_only_the_last_encoder_state():
    torch.manual_seed(0)
    model = Seq2Seq(16, 8, attention=False)
    sources, lengths, decoder_inputs, _ = make_batch([[3, 3]])
    with torch.no_grad():
        trace = model.trace(sources, lengths, decoder_inputs)
        changed = sources.clone()
        changed[0, 0] = sources[0, 1]  # another first character: only h_S can carry it to the decoder
        encoded, last = model.encode(changed, lengths)
        logits, *_ = model.decode(decoder_inputs, last[None], torch.zeros_like(encoded), lengths)
    assert trace.attention is None
    torch.testing.assert_close(logits, model(changed, lengths, decoder_inputs))


def test_greedy_decoding_fed_its_own_outputs_is_teacher_forcing_on_them(trained):
    """The two execution paths of one decoder: teacher forcing on the greedy output reproduces every step. In float64,
    so the default tolerances hold: the fused GRU over a sequence and step by step sum in other orders."""
    model = copy.deepcopy(trained).double()
    sources, lengths, _, _ = make_batch(SHORT.draw(32, torch.Generator().manual_seed(5)))
    with torch.no_grad():
        decoded = model.greedy(sources, lengths)
        fed = torch.cat([torch.full((32, 1), 1), decoded.symbols[:, :-1]], dim=1)  # "^" then its own outputs
        trace = model.trace(sources, lengths, fed)
    torch.testing.assert_close(trace.output, decoded.logits)
    torch.testing.assert_close(trace.attention, decoded.attention)


def test_teacher_forced_argmax_is_the_greedy_output_wherever_the_prefix_is_right(trained):
    sources, lengths, decoder_inputs, targets = make_batch(SHORT.draw(64, torch.Generator().manual_seed(6)))
    with torch.no_grad():
        forced = trained(sources, lengths, decoder_inputs).argmax(-1)  # (B, U)
        greedy = trained.greedy(sources, lengths).symbols
    compared = 0
    for b in range(len(sources)):
        n = int((targets[b] >= 0).sum())  # digits + end token
        for t in range(min(n, greedy.shape[1])):
            if not torch.equal(greedy[b, :t], targets[b, :t]):
                break
            assert forced[b, t] == greedy[b, t]
            compared += 1
    assert compared > 150  # the trained model gets most prefixes right, so most steps are compared


def test_padding_in_a_batch_changes_no_output(trained):
    batch = make_batch([[1, 2, 3, 4, 5], [9]])
    alone = make_batch([[9]])
    with torch.no_grad():
        together = trained.greedy(batch[0], batch[1]).symbols[1]
        single = trained.greedy(alone[0], alone[1]).symbols[0]
    assert decode_symbols(together.tolist()) == decode_symbols(single.tolist())
    assert exact_matches(trained, alone).tolist() == [decode_symbols(single.tolist()) == "9"]


@pytest.mark.parametrize("teacher_forcing", [False, True])
def test_a_typed_input_is_translated_with_its_attention_matrix(trained, teacher_forcing):
    result = translate(trained, "  Four TWO  seven", teacher_forcing=teacher_forcing)
    assert result.text == "four two seven" and result.inputs == list("four two seven")
    assert result.mode == ("teacher forcing" if teacher_forcing else "greedy")
    assert result.attention.shape == (len(result.outputs), len(result.inputs))
    torch.testing.assert_close(result.attention.sum(-1), torch.ones(len(result.outputs)))
    if teacher_forcing:
        assert len(result.outputs) == 4  # three digits and the end token, read on the correct path
    plain = translate(Seq2Seq(8, 4, attention=False), "one")
    assert plain.attention is None and plain.mode == "greedy"


@pytest.mark.parametrize("text", ["", "   ", "four twelve", "fünf", "one " * 17, "x" * 200])
def test_an_input_it_cannot_read_is_refused_with_a_value_error(trained, text):
    with pytest.raises(ValueError):
        translate(trained, text)


def test_a_batch_whose_lengths_do_not_fit_is_refused():
    model = Seq2Seq(8, 4)
    sources, lengths = encode_sources(["one two"])
    decoder_inputs, _ = encode_targets([[1, 2]])
    with pytest.raises(ValueError, match="lengths"):
        model(sources, lengths + 5, decoder_inputs)


@pytest.mark.parametrize(
    ("kwargs", "message"), [({"hidden_size": 0}, "hidden size"), ({"embedding_size": 10**4}, "embedding")]
)
def test_a_model_that_cannot_work_is_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Seq2SeqRun(**kwargs)


@pytest.mark.slow
def test_attention_keeps_long_inputs_right_where_the_plain_model_degrades_with_length():
    """The lecture's bottleneck: after the same budget, the plain encoder-decoder loses the long inputs, the one with
    attention does not."""
    run = default_run("seq2seq")
    _, attention = train_model(run)
    _, plain = train_model(Seq2SeqRun(attention=False, train=run.train))
    with_attention = attention["scores"]["accuracy_by_length"]
    without = plain["scores"]["accuracy_by_length"]
    longest = max(without)
    assert attention["scores"]["accuracy"] >= 0.95 and with_attention[longest] >= 0.9
    assert without[1] >= 0.95 and without[longest] < without[1] - 0.3
    assert with_attention[longest] > without[longest] + 0.3


def test_accuracy_by_length_has_one_entry_per_number_of_digits(trained):
    scores = accuracy_by_length(trained, DigitWords(2, 4))
    assert list(scores) == [2, 3, 4] and all(0 <= v <= 1 for v in scores.values())
    assert END == 2
