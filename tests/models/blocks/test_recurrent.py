"""RecurrentNet: the step-by-step trace agrees with torch's fused modules; heads; truncated BPTT."""

import itertools

import pytest
import torch

from models.blocks.recurrent import ACTIVATIONS, RecurrentModel, RecurrentNet, rnn_cell

CASES = list(itertools.product(["rnn", "lstm", "gru"], [1, 2, 3, 4], [False, True]))


@pytest.mark.parametrize(("cell", "layers", "bidirectional"), CASES)
def test_trace_matches_fused_forward(cell, layers, bidirectional):
    torch.manual_seed(0)
    net = RecurrentNet(cell, input_size=3, hidden_size=5, num_layers=layers, bidirectional=bidirectional)
    x = torch.randn(4, 7, 3)
    fused, (h_n, *c_n) = net.rnn(x)[0], _state(net.rnn(x)[1])
    trace = net.trace(x)
    dirs = 2 if bidirectional else 1
    assert len(trace.hidden) == layers
    assert all(h.shape == (4, 7, dirs, 5) for h in trace.hidden)
    torch.testing.assert_close(trace.output, fused, atol=1e-5, rtol=0)
    torch.testing.assert_close(net(x), fused, atol=1e-5, rtol=0)
    # final states of every layer and direction (t = T for forward, t = 1 for backward)
    for layer in range(layers):
        for d in range(dirs):
            t = 0 if d else -1
            torch.testing.assert_close(trace.hidden[layer][:, t, d], h_n[layer * dirs + d], atol=1e-5, rtol=0)
            if cell == "lstm":
                torch.testing.assert_close(trace.cell[layer][:, t, d], c_n[0][layer * dirs + d], atol=1e-5, rtol=0)
    if cell != "lstm":
        assert trace.cell is None


def _state(state):
    return state if isinstance(state, tuple) else (state,)


def test_relu_rnn_trace_matches():
    torch.manual_seed(1)
    net = RecurrentNet("rnn", 2, 6, num_layers=2, nonlinearity="relu")
    x = torch.randn(3, 9, 2)
    torch.testing.assert_close(net.trace(x).output, net(x), atol=1e-5, rtol=0)


def test_lstm_gates_satisfy_the_lecture_equations():
    torch.manual_seed(2)
    net = RecurrentNet("lstm", 3, 4)
    trace = net.trace(torch.randn(2, 6, 3))
    g = {k: v[:, :, 0] for k, v in trace.gates[0].items()}
    c, h = trace.cell[0][:, :, 0], trace.hidden[0][:, :, 0]
    c_prev = torch.cat([torch.zeros_like(c[:, :1]), c[:, :-1]], dim=1)
    torch.testing.assert_close(c, g["forget"] * c_prev + g["input"] * g["cell"])
    torch.testing.assert_close(h, g["output"] * torch.tanh(c))
    for name in ("input", "forget", "output"):
        assert ((g[name] > 0) & (g[name] < 1)).all()


def test_gru_update_gate_follows_lecture_convention():
    torch.manual_seed(3)
    net = RecurrentNet("gru", 3, 4)
    trace = net.trace(torch.randn(2, 6, 3))
    z, n, h = (trace.gates[0]["update"][:, :, 0], trace.gates[0]["new"][:, :, 0], trace.hidden[0][:, :, 0])
    h_prev = torch.cat([torch.zeros_like(h[:, :1]), h[:, :-1]], dim=1)
    torch.testing.assert_close(h, (1 - z) * h_prev + z * n)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_padded_lengths_match_individual_sequences(cell, bidirectional):
    torch.manual_seed(4)
    model = RecurrentModel(cell, 3, 5, output_size=4, num_layers=2, bidirectional=bidirectional)
    lengths = torch.tensor([6, 2, 4])
    x = torch.randn(3, 6, 3)
    batched = model(x, lengths=lengths)
    traced = model.trace(x, lengths=lengths).output
    for i, n in enumerate(lengths.tolist()):
        alone = model(x[i : i + 1, :n])
        torch.testing.assert_close(batched[i : i + 1], alone, atol=1e-5, rtol=0)
        torch.testing.assert_close(traced[i : i + 1], alone, atol=1e-5, rtol=0)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_truncated_bptt_same_values_gradient_stops_at_window(cell):
    torch.manual_seed(5)
    net = RecurrentNet(cell, 2, 4, num_layers=2)
    x = torch.randn(2, 10, 2, requires_grad=True)
    full = net(x)
    windowed = net(x, detach_every=4)
    torch.testing.assert_close(windowed, full, atol=1e-6, rtol=0)
    windowed[:, -1].sum().backward()
    grad = x.grad.abs().sum(dim=(0, 2))
    assert (grad[:8] == 0).all() and (grad[8:] > 0).all()
    x.grad = None
    traced = net.trace(x, detach_every=4)
    torch.testing.assert_close(traced.output, full, atol=1e-5, rtol=0)
    traced.output[:, -1].sum().backward()
    grad = x.grad.abs().sum(dim=(0, 2))
    assert (grad[:8] == 0).all() and (grad[8:] > 0).all()


def test_probe_gradient_is_dl_dh():
    torch.manual_seed(6)
    net = RecurrentNet("rnn", 2, 3)
    x = torch.randn(1, 5, 2)
    trace = net.trace(x, probe=True)
    trace.output[:, -1].sum().backward()
    grad = trace.probes[0].grad[0, :, 0]  # (T, H)
    h_T = trace.hidden[0][0, -1, 0].detach()
    W = net.rnn.weight_hh_l0.detach()
    torch.testing.assert_close(grad[-1], torch.ones(3))
    # dL/dh_{T-1} = W^T diag(f'(pre_T)) dL/dh_T, with tanh' = 1 - h_T^2
    torch.testing.assert_close(grad[-2], W.T @ (1 - h_T**2), atol=1e-6, rtol=1e-5)


def test_many_to_one_bidirectional_reads_both_ends():
    torch.manual_seed(7)
    model = RecurrentModel("gru", 3, 4, output_size=2, bidirectional=True)
    x = torch.randn(2, 5, 3)
    out = model.body(x)
    expected = model.head(torch.cat([out[:, -1, :4], out[:, 0, 4:]], dim=-1))
    torch.testing.assert_close(model(x), expected)
    assert RecurrentModel("rnn", 3, 4, 2, mapping="many_to_many")(x).shape == (2, 5, 2)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(cell="cnn"), "cell"),
        (dict(num_layers=5), "layers"),
        (dict(hidden_size=0), "hidden size"),
        (dict(nonlinearity="sigmoid"), "nonlinearity"),
    ],
)
def test_bad_configuration_raises_value_error(kwargs, message):
    args = dict(cell="rnn", input_size=2, hidden_size=3) | kwargs
    with pytest.raises(ValueError, match=message):
        RecurrentNet(**args)


def test_bad_inputs_raise_value_error():
    net = RecurrentNet("lstm", 2, 3, bidirectional=True)
    with pytest.raises(ValueError, match="expected input"):
        net(torch.randn(2, 4, 3))
    with pytest.raises(ValueError, match="unidirectional"):
        net(torch.randn(2, 4, 2), detach_every=2)
    with pytest.raises(ValueError, match="lengths"):
        net(torch.randn(2, 4, 2), lengths=torch.tensor([5, 1]))


@pytest.mark.parametrize(("cell", "layers", "bidirectional"), [("lstm", 2, True), ("gru", 1, False)])
def test_chrono_init_spreads_gate_memories_over_the_span(cell, layers, bidirectional):
    """Tallec & Ollivier: keep-gate bias log u with u in [1, span - 1]; the LSTM input gate gets -log u."""
    torch.manual_seed(0)
    net = RecurrentNet(cell, input_size=3, hidden_size=64, num_layers=layers, bidirectional=bidirectional)
    net.chrono_init(100)
    H = net.hidden_size
    for name, b_U in net.rnn.named_parameters():
        if not name.startswith("bias_ih"):
            continue
        total = b_U + getattr(net.rnn, name.replace("bias_ih", "bias_hh"))
        keep = total[H : 2 * H]
        assert keep.min() >= 0 and keep.max() <= torch.log(torch.tensor(99.0)) + 1e-6
        assert keep.max() - keep.min() > 2  # time scales spread over the span, not one value
        if cell == "lstm":
            torch.testing.assert_close(total[:H], -keep)


def test_chrono_init_needs_a_gate():
    with pytest.raises(ValueError, match="gated cell"):
        RecurrentNet("rnn", 3, 8).chrono_init(50)
    with pytest.raises(ValueError, match="at least 3"):
        RecurrentNet("lstm", 3, 8).chrono_init(2)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_the_keep_gate_bias_set_is_the_one_the_weights_hold(cell):
    net = RecurrentNet(cell, 3, 5, num_layers=2, bidirectional=True)
    torch.testing.assert_close(net.keep_gate_bias(), torch.full((5,), 3.0))  # the default memory bias
    net.set_keep_gate_bias(6.0)
    for layer in range(2):
        for direction in range(2):
            w = net.weights(layer, direction)
            total = (w["b_U"] + w["b_W"]).detach()
            torch.testing.assert_close(total[5:10], torch.full((5,), 6.0))
            torch.testing.assert_close(net.keep_gate_bias(layer, direction), torch.full((5,), 6.0))
    with pytest.raises(ValueError, match="no gate"):
        RecurrentNet("rnn", 3, 5).set_keep_gate_bias(1.0)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_state_function_reproduces_the_trace_in_float64(cell):
    """step(x_t, s_{t-1}) -> s_t, run over a sequence, gives the trace's h_t (and C_t)."""
    torch.manual_seed(8)
    net = RecurrentNet(cell, 3, 4)
    x = torch.randn(6, 3)
    trace = net.trace(x[None])
    step = net.state_function()
    s = torch.zeros(8 if cell == "lstm" else 4, dtype=torch.float64)
    for t in range(6):
        s = step(x[t].double(), s)
        torch.testing.assert_close(s[:4].float(), trace.hidden[0][0, t, 0], atol=1e-6, rtol=1e-5)
        if cell == "lstm":
            torch.testing.assert_close(s[4:].float(), trace.cell[0][0, t, 0], atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_activations_and_their_derivatives_agree_with_autograd(name):
    f, f_prime = ACTIVATIONS[name]
    a = torch.linspace(-3, 3, 13, dtype=torch.float64).requires_grad_(True)
    f(a).sum().backward()
    torch.testing.assert_close(f_prime(a.detach()), a.grad)
    torch.testing.assert_close(rnn_cell(a.detach(), torch.zeros(13, dtype=torch.float64), name), f(a.detach()))
    with pytest.raises(ValueError, match="nonlinearity"):
        rnn_cell(a, a, "swish")


def test_the_gru_trace_also_gives_the_slides_candidate_from_the_same_weights():
    """The slide's h~_t = tanh(W [r_t * h_{t-1}, x_t]) recomputed from nn.GRU's weights by hand, beside torch's."""
    torch.manual_seed(9)
    net = RecurrentNet("gru", 3, 4)
    x = torch.randn(1, 5, 3)
    trace = net.trace(x)
    gates = {name: value[0, :, 0] for name, value in trace.gates[0].items()}  # (T, H)
    h = trace.hidden[0][0, :, 0]
    h_prev = torch.cat([torch.zeros(1, 4), h[:-1]])
    W_in, b_in = net.rnn.weight_ih_l0[8:], net.rnn.bias_ih_l0[8:]
    W_hn, b_hn = net.rnn.weight_hh_l0[8:], net.rnn.bias_hh_l0[8:]
    slide = torch.tanh(x[0] @ W_in.T + b_in + (gates["reset"] * h_prev) @ W_hn.T + b_hn)
    torchs = torch.tanh(x[0] @ W_in.T + b_in + gates["reset"] * (h_prev @ W_hn.T + b_hn))
    torch.testing.assert_close(gates["lecture_new"], slide)
    torch.testing.assert_close(gates["new"], torchs)
    assert not torch.allclose(slide, torchs)
