"""Recurrent networks (vanilla RNN, LSTM, GRU): the cell equations written once, one parameter set and two
execution paths.

:func:`rnn_cell`, :func:`lstm_cell` and :func:`gru_cell` are the lecture's cells, on the projections
U x_t + b and W h_{t-1} + b. :class:`RecurrentNet` trains on torch's fused ``nn.RNN`` / ``nn.LSTM`` /
``nn.GRU`` (``.rnn``) and recomputes the same forward step by step with :meth:`RecurrentNet.trace`, so
hidden states h_t, LSTM cell states C_t and gate activations can be shown. :class:`RecurrentModel` adds
the output layer y_t = V h_t + b_y for many-to-one or many-to-many tasks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from models.core.engine import StepContext, StepFn, StepOutput
from models.core.evaluation import classification_output, regression_output
from models.core.memory import MemoryEstimate, parameter_bytes

CELLS = ("rnn", "lstm", "gru")
CELL_LABELS = {"rnn": "vanilla RNN", "lstm": "LSTM", "gru": "GRU"}
ACTIVATIONS: dict[str, tuple[Callable, Callable]] = {  # f and f', as functions of the pre-activation a
    "tanh": (torch.tanh, lambda a: 1 - torch.tanh(a) ** 2),
    "sigmoid": (torch.sigmoid, lambda a: torch.sigmoid(a) * (1 - torch.sigmoid(a))),
    "relu": (torch.relu, lambda a: (a > 0).to(a.dtype)),
}
NONLINEARITIES = ("tanh", "relu")  # the activations torch's fused nn.RNN offers
MAPPINGS = ("many_to_one", "many_to_many")
GATE_NAMES = {
    "rnn": (),
    "lstm": ("input", "forget", "cell", "output"),
    "gru": ("reset", "update", "new", "lecture_new"),
}
MAX_LAYERS = 4
MAX_HIDDEN = 512
MEMORY_BIAS = 3.0
PROBE = "h"  # the name under which recurrent_step reports ||dL/dh_k||
# Floats that a fused training step keeps per hidden unit, time step, layer and direction: fitted to the peak
# RSS of CPU training steps (torch 2.13; 4-layer bidirectional nets, H = 256, T = 201, batch 64).
FLOATS_SAVED_PER_STATE = {"rnn": 5, "gru": 9, "lstm": 12}


@dataclass
class RecurrentTrace:
    """Internals of a step-by-step forward.

    ``hidden[l]``: h_t of layer l, ``(B, T, dirs, H)`` (direction 1 is the backward RNN, indexed by t).
    ``cell[l]``: LSTM cell state C_t, same shape (None for RNN and GRU).
    ``gates[l]``: LSTM ``input``/``forget``/``cell``/``output`` (i_t, f_t, C~_t, o_t) or GRU
    ``reset``/``update``/``new`` (r_t, z_t, torch's h~_t) and ``lecture_new``, the slide's
    h~_t = tanh(W [r_t * h_{t-1}, x_t]) from the same weights (shown beside torch's, not used by h_t); each
    ``(B, T, dirs, H)``; empty for a vanilla RNN.
    ``probes[l]``: with ``probe=True``, zero tensors added to h_t whose ``.grad`` is dL/dh_t.
    """

    hidden: list[torch.Tensor]
    cell: list[torch.Tensor] | None
    gates: list[dict[str, torch.Tensor]]
    probes: list[torch.Tensor] = field(default_factory=list)

    @property
    def output(self) -> torch.Tensor:
        """The top layer's outputs as the fused module returns them, ``(B, T, dirs * H)``."""
        top = self.hidden[-1]
        return top.flatten(start_dim=2)


def _validate(cell: str, input_size: int, hidden_size: int, num_layers: int, nonlinearity: str) -> None:
    if cell not in CELLS:
        raise ValueError(f"cell must be one of {CELLS}, got {cell!r}")
    if input_size < 1:
        raise ValueError(f"input size must be at least 1, got {input_size}")
    if not 1 <= hidden_size <= MAX_HIDDEN:
        raise ValueError(f"hidden size must be between 1 and {MAX_HIDDEN}, got {hidden_size}")
    if not 1 <= num_layers <= MAX_LAYERS:
        raise ValueError(f"number of layers must be between 1 and {MAX_LAYERS}, got {num_layers}")
    if nonlinearity not in NONLINEARITIES:
        raise ValueError(f"nonlinearity must be one of {NONLINEARITIES}, got {nonlinearity!r}")


class RecurrentNet(nn.Module):
    """A stack of recurrent layers: ``.rnn`` is the fused torch module that holds the weights.

    ``forward(x) -> (B, T, dirs * H)``, the top layer's outputs. ``trace(x)`` recomputes them step
    by step from the same weights and returns a :class:`RecurrentTrace`.
    """

    def __init__(
        self,
        cell: str,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bidirectional: bool = False,
        nonlinearity: str = "tanh",
    ):
        super().__init__()
        _validate(cell, input_size, hidden_size, num_layers, nonlinearity)
        self.cell = cell
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bidirectional = bidirectional
        self.nonlinearity = nonlinearity if cell == "rnn" else "tanh"
        kwargs = dict(num_layers=num_layers, bidirectional=bidirectional, batch_first=True)
        if cell == "rnn":
            self.rnn = nn.RNN(input_size, hidden_size, nonlinearity=nonlinearity, **kwargs)
        else:
            self.rnn = {"lstm": nn.LSTM, "gru": nn.GRU}[cell](input_size, hidden_size, **kwargs)
        if cell != "rnn":
            self.set_keep_gate_bias(MEMORY_BIAS)

    @torch.no_grad()
    def set_keep_gate_bias(self, value: float | torch.Tensor, input_gate: float | torch.Tensor | None = None) -> None:
        """Set the total bias b_U + b_W of the gate that keeps the memory, in every layer and direction: the LSTM
        forget gate f_t, or the GRU gate torch calls u_t (= 1 - the lecture's z_t). ``input_gate`` sets the
        LSTM input gate i_t's. Each total is split equally between torch's two bias vectors."""
        if self.cell == "rnn":
            raise ValueError("a vanilla RNN has no gate")
        H = self.hidden_size
        for name, bias in self.rnn.named_parameters():
            if name.startswith("bias_"):
                bias[H : 2 * H] = value / 2  # torch's second block: LSTM f, GRU u
                if input_gate is not None and self.cell == "lstm":
                    bias[:H] = input_gate / 2

    def keep_gate_bias(self, layer: int = 0, direction: int = 0) -> torch.Tensor:
        """The total bias b_U + b_W of the keep gate (LSTM f_t, GRU u_t) per unit, ``(H,)``, read from the weights."""
        w = self.weights(layer, direction)
        return (w["b_U"] + w["b_W"])[self.hidden_size : 2 * self.hidden_size].detach()

    @torch.no_grad()
    def chrono_init(self, max_span: int) -> None:
        """Chrono initialisation (Tallec & Ollivier, 2018) for dependencies up to ``max_span`` steps.

        Each unit's keep-gate bias is log(u), u ~ U(1, max_span - 1): the LSTM forget gate f_t and the
        GRU keep gate 1 - z_t start at sigma(log u) = 1 - 1/(1 + u), a memory of about u steps. The LSTM
        input gate i_t starts at the opposite bias, so distractors are barely written into C_t. Units get
        time scales spread from 1 to ``max_span`` steps.
        """
        if self.cell == "rnn":
            raise ValueError("chrono initialisation needs a gated cell (LSTM or GRU)")
        if max_span < 3:
            raise ValueError(f"chrono initialisation needs a span of at least 3 steps, got {max_span}")
        keep = torch.log1p(torch.rand(self.hidden_size) * (max_span - 2))  # log U(1, max_span - 1)
        self.set_keep_gate_bias(keep, input_gate=-keep)

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def output_size(self) -> int:
        return self.num_directions * self.hidden_size

    def _check_input(self, x: torch.Tensor, lengths: torch.Tensor | None, detach_every: int | None) -> None:
        if x.dim() != 3 or x.shape[-1] != self.input_size:
            raise ValueError(f"expected input (B, T, {self.input_size}), got {tuple(x.shape)}")
        if x.shape[1] < 1:
            raise ValueError("the sequence is empty (T = 0)")
        if lengths is not None:
            if lengths.shape != (x.shape[0],):
                raise ValueError(f"lengths must have shape ({x.shape[0]},), got {tuple(lengths.shape)}")
            if int(lengths.min()) < 1 or int(lengths.max()) > x.shape[1]:
                raise ValueError(f"lengths must lie in [1, {x.shape[1]}]")
        if detach_every is not None:
            if detach_every < 1:
                raise ValueError(f"truncated-BPTT window must be at least 1 step, got {detach_every}")
            if self.bidirectional:
                raise ValueError("truncated BPTT needs a unidirectional network (the backward RNN reads the future)")
            if lengths is not None:
                raise ValueError("truncated BPTT works on equal-length sequences only (lengths must be None)")

    def forward(
        self, x: torch.Tensor, lengths: torch.Tensor | None = None, detach_every: int | None = None
    ) -> torch.Tensor:
        """Top-layer outputs ``(B, T, dirs * H)``.

        ``lengths`` (B,): right-padded sequences of these lengths (outputs past a length are 0).
        ``detach_every`` k: truncated BPTT, run the fused module on windows of k steps and detach the
        state between windows (same values, gradients stop at window borders).
        """
        self._check_input(x, lengths, detach_every)
        if lengths is not None:
            packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
            out, _ = self.rnn(packed)
            return pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])[0]
        if detach_every is None or detach_every >= x.shape[1]:
            return self.rnn(x)[0]
        outputs, state = [], None
        for start in range(0, x.shape[1], detach_every):
            out, state = self.rnn(x[:, start : start + detach_every], state)
            outputs.append(out)
            state = tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()
        return torch.cat(outputs, dim=1)  # (B, T, dirs * H)

    def weights(self, layer: int, direction: int = 0) -> dict[str, torch.Tensor]:
        """Layer ``layer``'s U (input-to-hidden), W (hidden-to-hidden) and biases, as torch stacks them."""
        suffix = f"_l{layer}" + ("_reverse" if direction else "")
        return {
            "U": getattr(self.rnn, "weight_ih" + suffix),
            "W": getattr(self.rnn, "weight_hh" + suffix),
            "b_U": getattr(self.rnn, "bias_ih" + suffix),
            "b_W": getattr(self.rnn, "bias_hh" + suffix),
        }

    def trace(
        self,
        x: torch.Tensor,
        lengths: torch.Tensor | None = None,
        detach_every: int | None = None,
        probe: bool = False,
    ) -> RecurrentTrace:
        """The forward recomputed step by step (differentiable); see :class:`RecurrentTrace`."""
        self._check_input(x, lengths, detach_every)
        B, T, _ = x.shape
        if lengths is None:
            mask = torch.ones(B, T, 1, dtype=torch.bool, device=x.device)
        else:
            mask = (torch.arange(T, device=x.device)[None, :] < lengths.to(x.device)[:, None])[..., None]
        hidden, cells, gates, probes = [], [], [], []
        layer_input = x  # (B, T, d)
        for layer in range(self.num_layers):
            per_direction = []
            layer_probe = None
            if probe:
                layer_probe = torch.zeros(B, T, self.num_directions, self.hidden_size, device=x.device)
                layer_probe.requires_grad_(True)
                probes.append(layer_probe)
            for direction in range(self.num_directions):
                p = layer_probe[:, :, direction] if layer_probe is not None else None
                per_direction.append(self._run_direction(layer_input, mask, layer, direction, detach_every, p))
            h = torch.stack([d["h"] for d in per_direction], dim=2)  # (B, T, dirs, H)
            hidden.append(h)
            if self.cell == "lstm":
                cells.append(torch.stack([d["c"] for d in per_direction], dim=2))
            gates.append({name: torch.stack([d[name] for d in per_direction], dim=2) for name in GATE_NAMES[self.cell]})
            layer_input = h.flatten(start_dim=2)  # (B, T, dirs * H)
        return RecurrentTrace(hidden=hidden, cell=cells if self.cell == "lstm" else None, gates=gates, probes=probes)

    def _run_direction(
        self,
        x: torch.Tensor,
        mask: torch.Tensor,
        layer: int,
        direction: int,
        detach_every: int | None,
        probe: torch.Tensor | None,
    ) -> dict[str, torch.Tensor]:
        """One layer, one direction, over time; padded steps keep the state and output 0."""
        B, T, _ = x.shape
        w = self.weights(layer, direction)
        x_proj = x @ w["U"].T + w["b_U"]  # (B, T, G*H): U x_t + b for every t at once
        h = x.new_zeros(B, self.hidden_size)
        c = x.new_zeros(B, self.hidden_size)
        steps = range(T - 1, -1, -1) if direction else range(T)
        records: dict[str, list[torch.Tensor | None]] = {"h": [None] * T, "c": [None] * T}
        records.update({name: [None] * T for name in GATE_NAMES[self.cell]})
        for count, t in enumerate(steps):
            if detach_every is not None and count and count % detach_every == 0:
                h, c = h.detach(), c.detach()
            new_h, new_c, step_gates = self._cell_step(x_proj[:, t], h, c, w)
            if probe is not None:
                new_h = new_h + probe[:, t]
            keep = mask[:, t]  # (B, 1)
            h = torch.where(keep, new_h, h)
            c = torch.where(keep, new_c, c)
            records["h"][t] = torch.where(keep, new_h, torch.zeros_like(new_h))
            records["c"][t] = torch.where(keep, new_c, torch.zeros_like(new_c))
            for name, value in step_gates.items():
                records[name][t] = torch.where(keep, value, torch.zeros_like(value))
        return {name: torch.stack(values, dim=1) for name, values in records.items()}  # each (B, T, H)

    def _cell_step(
        self, x_proj: torch.Tensor, h: torch.Tensor, c: torch.Tensor, w: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        """One time step of the cell; returns (h_t, C_t, gates)."""
        h_proj = h @ w["W"].T + w["b_W"]  # (B, G*H)
        if self.cell == "rnn":
            return rnn_cell(x_proj, h_proj, self.nonlinearity), c, {}
        if self.cell == "lstm":
            return lstm_cell(x_proj, h_proj, c)
        h_new, gates = gru_cell(x_proj, h_proj, h)
        H = self.hidden_size
        reset_first = (gates["reset"] * h) @ w["W"][2 * H :].T + w["b_W"][2 * H :]  # W_hn (r_t * h_{t-1}) + b_hn
        gates["lecture_new"] = torch.tanh(x_proj[..., 2 * H :] + reset_first)  # the slide's h~_t, not used by h_t
        return h_new, c, gates

    def state_function(self, layer: int = 0, direction: int = 0, dtype: torch.dtype = torch.float64):
        """``step(x_t, s_{t-1}) -> s_t`` for one layer and direction of one sequence, in ``dtype``, with the
        state s = h_t (RNN, GRU) or [h_t ; C_t] (LSTM): what a Jacobian ds_t/ds_{t-1} differentiates."""
        w = {name: tensor.detach().to(dtype) for name, tensor in self.weights(layer, direction).items()}
        H = self.hidden_size

        def step(x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
            x_proj = w["U"] @ x + w["b_U"]
            h, c = (s[:H], s[H:]) if self.cell == "lstm" else (s, s)
            h_new, c_new, _ = self._cell_step(x_proj, h, c, w)
            return torch.cat([h_new, c_new]) if self.cell == "lstm" else h_new

        return step


def rnn_cell(x_proj: torch.Tensor, h_proj: torch.Tensor, nonlinearity: str = "tanh") -> torch.Tensor:
    """h_t = f(U x_t + W h_{t-1} + b) (the lecture's vanilla RNN cell), f one of :data:`ACTIVATIONS`."""
    if nonlinearity not in ACTIVATIONS:
        raise ValueError(f"nonlinearity must be one of {tuple(ACTIVATIONS)}, got {nonlinearity!r}")
    return ACTIVATIONS[nonlinearity][0](x_proj + h_proj)


def lstm_cell(
    x_proj: torch.Tensor, h_proj: torch.Tensor, c: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
    """The lecture's LSTM: C_t = f_t * C_{t-1} + i_t * C~_t, h_t = o_t * tanh(C_t).

    f_t, i_t, o_t = sigma(W_. [h_{t-1}, x_t] + b_.), C~_t = tanh(W_C [h_{t-1}, x_t] + b_C); torch stacks
    the four blocks of W in the order i, f, C~, o.
    """
    i, f, g, o = (x_proj + h_proj).chunk(4, dim=-1)
    i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
    c_new = f * c + i * g
    h_new = o * torch.tanh(c_new)
    return h_new, c_new, {"input": i, "forget": f, "cell": g, "output": o}


def gru_cell(
    x_proj: torch.Tensor, h_proj: torch.Tensor, h: torch.Tensor
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The lecture's GRU: h_t = (1 - z_t) * h_{t-1} + z_t * h~_t.

    r_t = sigma(W_r [h_{t-1}, x_t]), z_t = sigma(W_z [h_{t-1}, x_t]), h~_t = tanh(W [r_t * h_{t-1}, x_t]).
    Exact form computed (torch's): the reset gate multiplies W_hn h_{t-1} + b_hn rather than h_{t-1},
    and torch's gate u_t keeps the old state (h_t = u_t h_{t-1} + (1 - u_t) h~_t), so z_t = 1 - u_t.
    """
    xr, xu, xn = x_proj.chunk(3, dim=-1)
    hr, hu, hn = h_proj.chunk(3, dim=-1)
    r = torch.sigmoid(xr + hr)
    z = 1 - torch.sigmoid(xu + hu)
    n = torch.tanh(xn + r * hn)
    return (1 - z) * h + z * n, {"reset": r, "update": z, "new": n}


@dataclass
class RecurrentModelTrace:
    """The model's ``output`` (as ``forward`` returns it), its :class:`RecurrentTrace`, and the output layer read
    at every step: ``step_outputs`` (B, T, M)."""

    output: torch.Tensor
    recurrent: RecurrentTrace
    step_outputs: torch.Tensor


class RecurrentModel(nn.Module):
    """RecurrentNet + output layer y = V h + b_y, many-to-one or many-to-many (the lecture's slides).

    Many-to-one reads the last step, h_T; a bidirectional net reads [->h_T ; <-h_1] (each direction
    after it has seen the whole sequence). Many-to-many predicts y_t from h_t at every step.
    """

    def __init__(
        self,
        cell: str,
        input_size: int,
        hidden_size: int,
        output_size: int,
        num_layers: int = 1,
        bidirectional: bool = False,
        nonlinearity: str = "tanh",
        mapping: str = "many_to_one",
    ):
        super().__init__()
        if mapping not in MAPPINGS:
            raise ValueError(f"mapping must be one of {MAPPINGS}, got {mapping!r}")
        if output_size < 1:
            raise ValueError(f"output size must be at least 1, got {output_size}")
        self.mapping = mapping
        self.body = RecurrentNet(cell, input_size, hidden_size, num_layers, bidirectional, nonlinearity)
        self.head = nn.Linear(self.body.output_size, output_size)  # V, b_y

    def config(self) -> dict:
        """The constructor arguments, to rebuild the model from a checkpoint."""
        body = self.body
        return {
            "cell": body.cell,
            "input_size": body.input_size,
            "hidden_size": body.hidden_size,
            "output_size": self.head.out_features,
            "num_layers": body.num_layers,
            "bidirectional": body.bidirectional,
            "nonlinearity": body.nonlinearity,
            "mapping": self.mapping,
        }

    def summarize(self, outputs: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Many-to-one features from top-layer outputs ``(B, T, dirs*H)`` -> ``(B, dirs*H)``."""
        B, T, _ = outputs.shape
        last = (
            (lengths.to(outputs.device) - 1) if lengths is not None else torch.full((B,), T - 1, device=outputs.device)
        )
        forward = outputs[torch.arange(B, device=outputs.device), last, : self.body.hidden_size]  # ->h_T
        if not self.body.bidirectional:
            return forward
        return torch.cat([forward, outputs[:, 0, self.body.hidden_size :]], dim=-1)  # [->h_T ; <-h_1]

    def memory_estimate(self, batch_size: int, length: int) -> MemoryEstimate:
        """Bytes one training step on ``(batch_size, length)`` inputs holds: all copies of the parameters, and
        per layer, direction and time step the states autograd saves (:data:`FLOATS_SAVED_PER_STATE` x H)."""
        body = self.body
        states = batch_size * length * body.num_layers * (2 if body.bidirectional else 1) * body.hidden_size
        return MemoryEstimate(parameter_bytes(self), 4 * FLOATS_SAVED_PER_STATE[body.cell] * states)

    def forward(
        self, x: torch.Tensor, lengths: torch.Tensor | None = None, detach_every: int | None = None
    ) -> torch.Tensor:
        """``(B, M)`` for many-to-one, ``(B, T, M)`` for many-to-many."""
        outputs = self.body(x, lengths=lengths, detach_every=detach_every)  # (B, T, dirs*H)
        if self.mapping == "many_to_many":
            return self.head(outputs)
        return self.head(self.summarize(outputs, lengths))

    def trace(
        self,
        x: torch.Tensor,
        lengths: torch.Tensor | None = None,
        detach_every: int | None = None,
        probe: bool = False,
    ) -> RecurrentModelTrace:
        """Internals and outputs from the step-by-step path; ``step_outputs[:, t]`` = V h_t + b_y."""
        recurrent = self.body.trace(x, lengths=lengths, detach_every=detach_every, probe=probe)
        top = recurrent.output  # (B, T, dirs*H)
        step_outputs = self.head(top)
        output = step_outputs if self.mapping == "many_to_many" else self.head(self.summarize(top, lengths))
        return RecurrentModelTrace(output=output, recurrent=recurrent, step_outputs=step_outputs)


def recurrent_step(kind: str, tolerance: float = 0.1, probe_every: int | None = None) -> StepFn:
    """The engine's step for a :class:`RecurrentModel` on batches ``(x, [lengths,] y)``.

    Classification: cross-entropy and accuracy; regression: MSE and the share within ``tolerance``.
    Truncated BPTT follows the engine's window (equal-length batches only). Every ``probe_every`` steps the
    step-by-step path runs with probes on h_k, so the engine records ||dL/dh_k|| per time step k.
    """
    if kind not in ("classification", "regression"):
        raise ValueError(f"task kind must be 'classification' or 'regression', got {kind!r}")

    def step(model: RecurrentModel, batch: tuple, context: StepContext) -> StepOutput:
        *inputs, targets = batch
        window = context.tbptt_window if len(inputs) == 1 else None
        probes = {}
        if probe_every is not None and context.step % probe_every == 0:
            trace = model.trace(*inputs, detach_every=window, probe=True)
            output, probes = trace.output, {PROBE: trace.recurrent.probes[0]}  # (B, T, dirs, H)
        else:
            output = model(*inputs, detach_every=window)
        if kind == "regression":
            return regression_output(output, targets, tolerance)
        return classification_output(output, targets, probes)

    return step
