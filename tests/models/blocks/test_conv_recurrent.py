"""ConvLSTM: the cell against an independent recomputation of Shi et al. (2015), eq. (3), peepholes included; its
gradients by finite differences; the layer's trace against its forward; clear errors for bad shapes."""

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from models.blocks.conv_recurrent import GATES, ConvLSTM, ConvLSTMCell


def _randomised(layer: ConvLSTM) -> ConvLSTM:
    """Weights far from their initial values, so that every term of eq. (3) weighs in."""
    with torch.no_grad():
        for parameter in layer.parameters():
            parameter.normal_(0, 0.5)
    return layer


def eq3_reference(cell: ConvLSTMCell, x: torch.Tensor) -> dict[str, list[torch.Tensor]]:
    """Eq. (3) written out gate by gate, each convolution by F.conv2d on the cell's own kernels."""
    hidden = cell.hidden_channels
    pad = cell.kernel_size // 2

    def kernels(conv, gate):
        return conv.weight[gate * hidden : (gate + 1) * hidden]

    def w_x(gate, frame):  # W_x. * X_t + b_.
        return F.conv2d(
            frame, kernels(cell.conv_x, gate), cell.conv_x.bias[gate * hidden : (gate + 1) * hidden], padding=pad
        )

    def w_h(gate, h):  # W_h. * H_{t-1}
        return F.conv2d(h, kernels(cell.conv_h, gate), padding=pad)

    B, T = x.shape[:2]
    h = torch.zeros(B, hidden, *cell.frame_size, dtype=x.dtype)
    c = torch.zeros_like(h)
    record = {name: [] for name in ("h", "c", *GATES)}
    for t in range(T):
        frame = x[:, t]
        i = torch.sigmoid(w_x(0, frame) + w_h(0, h) + cell.w_ci * c)
        f = torch.sigmoid(w_x(1, frame) + w_h(1, h) + cell.w_cf * c)
        candidate = torch.tanh(w_x(2, frame) + w_h(2, h))
        c = f * c + i * candidate
        o = torch.sigmoid(w_x(3, frame) + w_h(3, h) + cell.w_co * c)
        h = o * torch.tanh(c)
        for name, value in zip(("h", "c", *GATES), (h, c, i, f, candidate, o), strict=True):
            record[name].append(value)
    return record


@pytest.mark.parametrize("kernel_size", [1, 3, 5])
def test_the_layer_computes_eq_3_with_its_peepholes(kernel_size):
    torch.manual_seed(0)
    layer = _randomised(ConvLSTM(2, 3, (5, 6), kernel_size))
    x = torch.randn(2, 4, 2, 5, 6)
    with torch.no_grad():
        trace = layer.trace(x)
        reference = eq3_reference(layer.cell, x)
        torch.testing.assert_close(layer(x), trace.output)
    torch.testing.assert_close(trace.hidden, torch.stack(reference["h"], dim=1))
    torch.testing.assert_close(trace.cell, torch.stack(reference["c"], dim=1))
    for name in GATES:
        torch.testing.assert_close(trace.gates[name], torch.stack(reference[name], dim=1))
    assert trace.hidden.shape == (2, 4, 3, 5, 6)
    assert dataclasses.is_dataclass(trace) and type(trace).__name__ == "ConvLSTMTrace"


def test_each_peephole_changes_the_output():
    """Zeroing W_ci, W_cf or W_co changes H: none of the three Hadamard terms is left out."""
    torch.manual_seed(1)
    layer = _randomised(ConvLSTM(1, 2, (4, 4)))
    x = torch.randn(1, 3, 1, 4, 4)
    with torch.no_grad():
        full = layer(x)
        for name in ("w_ci", "w_cf", "w_co"):
            saved = getattr(layer.cell, name).clone()
            getattr(layer.cell, name).zero_()
            assert not torch.allclose(layer(x), full, atol=1e-4), name
            getattr(layer.cell, name).copy_(saved)


def test_one_cell_step_is_the_layers_first_frame_and_states_carry_over():
    torch.manual_seed(2)
    layer = _randomised(ConvLSTM(1, 2, (4, 5)))
    x = torch.randn(3, 2, 1, 4, 5)
    with torch.no_grad():
        trace = layer.trace(x)
        h1, c1 = layer.cell(x[:, 0])
        h2, c2 = layer.cell(x[:, 1], (h1, c1))
    torch.testing.assert_close(h1, trace.hidden[:, 0])
    torch.testing.assert_close(c2, trace.cell[:, 1])
    torch.testing.assert_close(h2, trace.hidden[:, 1])


def test_gradients_match_finite_differences():
    torch.manual_seed(3)
    layer = _randomised(ConvLSTM(1, 2, (3, 4))).double()
    names = [name for name, _ in layer.named_parameters()]
    x = torch.randn(1, 3, 1, 3, 4, dtype=torch.float64, requires_grad=True)
    parameters = tuple(p.detach().clone().requires_grad_(True) for p in layer.parameters())

    def run(video, *weights):
        return torch.func.functional_call(layer, dict(zip(names, weights, strict=True)), (video,))

    assert torch.autograd.gradcheck(run, (x, *parameters), eps=1e-6, atol=1e-5)


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        ((2, 3, 2, 4, 4), "expected a video"),  # two channels, the layer reads one
        ((2, 3, 1, 5, 4), "expected a video"),  # another frame size (the peepholes are per pixel)
        ((2, 1, 4, 4), "expected a video"),  # one frame without a time axis
        ((2, 0, 1, 4, 4), "no frames"),
    ],
)
def test_a_video_of_the_wrong_shape_is_refused_with_a_message(shape, message):
    layer = ConvLSTM(1, 2, (4, 4))
    with pytest.raises(ValueError, match=message):
        layer(torch.zeros(shape))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kernel_size": 4}, "kernel size"),
        ({"hidden_channels": 0}, "hidden channels"),
        ({"input_channels": 0}, "input channels"),
        ({"frame_size": (0, 4)}, "frame size"),
        ({"frame_size": (4,)}, "frame size"),
    ],
)
def test_a_cell_that_cannot_work_is_refused(kwargs, message):
    settings = {"input_channels": 1, "hidden_channels": 2, "frame_size": (4, 4), "kernel_size": 3, **kwargs}
    with pytest.raises(ValueError, match=message):
        ConvLSTMCell(**settings)
