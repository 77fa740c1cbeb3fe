"""The convolutional LSTM of Shi et al. (2015), eq. (3), with its peephole terms, over videos ``(B, T, C, H, W)``.

    i_t = sigma(W_xi * X_t + W_hi * H_{t-1} + W_ci o C_{t-1} + b_i)
    f_t = sigma(W_xf * X_t + W_hf * H_{t-1} + W_cf o C_{t-1} + b_f)
    C_t = f_t o C_{t-1} + i_t o tanh(W_xc * X_t + W_hc * H_{t-1} + b_c)
    o_t = sigma(W_xo * X_t + W_ho * H_{t-1} + W_co o C_t + b_o)
    H_t = o_t o tanh(C_t)

``*`` is a convolution ("same" padding, so the states keep the frame's size) and ``o`` the Hadamard product. As
in the paper, X_t, H_t, C_t and the gates are 3D tensors (channels, rows, columns), so the peephole weights
W_ci, W_cf, W_co are too: one weight per channel and pixel, which ties a cell to one frame size. The states
start at zero ("total ignorance" of the future, in the paper's words).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

GATES = ("input", "forget", "cell", "output")  # i_t, f_t, the candidate tanh(W_xc * X_t + W_hc * H_{t-1} + b_c), o_t
MAX_CHANNELS = 64
KERNEL_SIZES = (1, 3, 5, 7)
MAX_FRAME = 64
PEEPHOLE_INIT = 0.1


@dataclass
class ConvLSTMTrace:
    """Every frame's internals, each ``(B, T, hidden, H, W)``: the hidden maps H_t (``hidden``; what ``forward``
    returns, also as ``output``), the cell maps C_t (``cell``) and the gates i_t, f_t, the candidate and o_t
    (``gates``, keyed by :data:`GATES`)."""

    hidden: torch.Tensor
    cell: torch.Tensor
    gates: dict[str, torch.Tensor]

    @property
    def output(self) -> torch.Tensor:
        return self.hidden


class ConvLSTMCell(nn.Module):
    """One step of Shi et al. (2015), eq. (3).

    ``conv_x`` holds W_x{i,f,c,o} and b_{i,f,c,o} stacked in the order i, f, c, o (as torch's LSTM stacks its
    blocks); ``conv_h`` holds W_h{i,f,c,o} (no bias: b appears once); ``w_ci``, ``w_cf``, ``w_co`` are the
    peephole weights, ``(hidden, H, W)``.
    """

    def __init__(self, input_channels: int, hidden_channels: int, frame_size: tuple[int, int], kernel_size: int = 3):
        super().__init__()
        _validate(input_channels, hidden_channels, frame_size, kernel_size)
        self.input_channels, self.hidden_channels = input_channels, hidden_channels
        self.frame_size, self.kernel_size = tuple(frame_size), kernel_size
        padding = kernel_size // 2
        self.conv_x = nn.Conv2d(input_channels, 4 * hidden_channels, kernel_size, padding=padding)
        self.conv_h = nn.Conv2d(hidden_channels, 4 * hidden_channels, kernel_size, padding=padding, bias=False)
        shape = (hidden_channels, *self.frame_size)
        self.w_ci, self.w_cf, self.w_co = (nn.Parameter(torch.empty(shape)) for _ in range(3))
        for peephole in (self.w_ci, self.w_cf, self.w_co):
            nn.init.uniform_(peephole, -PEEPHOLE_INIT, PEEPHOLE_INIT)

    def config(self) -> dict:
        return {
            "input_channels": self.input_channels,
            "hidden_channels": self.hidden_channels,
            "frame_size": list(self.frame_size),
            "kernel_size": self.kernel_size,
        }

    def initial_state(self, batch: int, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """H_0 = C_0 = 0, ``(B, hidden, H, W)`` each."""
        zeros = like.new_zeros(batch, self.hidden_channels, *self.frame_size)
        return zeros, zeros

    def step(
        self, x_conv: torch.Tensor, h: torch.Tensor, c: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        """Eq. (3) from W_x * X_t + b (``x_conv``, ``(B, 4 hidden, H, W)``) and the previous H_{t-1}, C_{t-1};
        returns (H_t, C_t, gates)."""
        xi, xf, xc, xo = x_conv.chunk(4, dim=1)
        hi, hf, hc, ho = self.conv_h(h).chunk(4, dim=1)  # W_h{i,f,c,o} * H_{t-1}
        i = torch.sigmoid(xi + hi + self.w_ci * c)
        f = torch.sigmoid(xf + hf + self.w_cf * c)
        candidate = torch.tanh(xc + hc)
        c_new = f * c + i * candidate
        o = torch.sigmoid(xo + ho + self.w_co * c_new)  # the output peephole reads C_t, not C_{t-1}
        h_new = o * torch.tanh(c_new)
        return h_new, c_new, {"input": i, "forget": f, "cell": candidate, "output": o}

    def forward(
        self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One frame X_t ``(B, C, H, W)`` and (H_{t-1}, C_{t-1}) (zeros when None) -> (H_t, C_t)."""
        h, c = state if state is not None else self.initial_state(x.shape[0], x)
        h, c, _ = self.step(self.conv_x(x), h, c)
        return h, c


class ConvLSTM(nn.Module):
    """A ConvLSTM layer over a video: ``forward(x (B, T, C, H, W)) -> H_1..H_T (B, T, hidden, H, W)``;
    ``trace(x)`` returns the same with the cell maps and gates (:class:`ConvLSTMTrace`)."""

    def __init__(self, input_channels: int, hidden_channels: int, frame_size: tuple[int, int], kernel_size: int = 3):
        super().__init__()
        self.cell = ConvLSTMCell(input_channels, hidden_channels, frame_size, kernel_size)

    def config(self) -> dict:
        return self.cell.config()

    def check_input(self, x: torch.Tensor) -> None:
        cell = self.cell
        expected = f"(B, T, {cell.input_channels}, {cell.frame_size[0]}, {cell.frame_size[1]})"
        if x.dim() != 5 or x.shape[2] != cell.input_channels or tuple(x.shape[3:]) != cell.frame_size:
            raise ValueError(f"expected a video {expected}, got {tuple(x.shape)}")
        if x.shape[1] < 1:
            raise ValueError("the video has no frames (T = 0)")

    def _frames(self, x: torch.Tensor):
        """(H_t, C_t, gates) for t = 1..T; the input convolutions W_x * X_t + b run on every frame at once."""
        self.check_input(x)
        B, T = x.shape[:2]
        x_conv = self.cell.conv_x(x.flatten(0, 1)).unflatten(0, (B, T))  # (B, T, 4 hidden, H, W)
        h, c = self.cell.initial_state(B, x)
        for t in range(T):
            h, c, gates = self.cell.step(x_conv[:, t], h, c)
            yield h, c, gates

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([h for h, _, _ in self._frames(x)], dim=1)  # (B, T, hidden, H, W)

    def trace(self, x: torch.Tensor) -> ConvLSTMTrace:
        frames = list(self._frames(x))
        return ConvLSTMTrace(
            hidden=torch.stack([h for h, _, _ in frames], dim=1),
            cell=torch.stack([c for _, c, _ in frames], dim=1),
            gates={name: torch.stack([g[name] for _, _, g in frames], dim=1) for name in GATES},
        )


def _validate(input_channels: int, hidden_channels: int, frame_size: tuple[int, int], kernel_size: int) -> None:
    if not 1 <= input_channels <= MAX_CHANNELS:
        raise ValueError(f"input channels must be between 1 and {MAX_CHANNELS}, got {input_channels}")
    if not 1 <= hidden_channels <= MAX_CHANNELS:
        raise ValueError(f"hidden channels must be between 1 and {MAX_CHANNELS}, got {hidden_channels}")
    if len(frame_size) != 2 or not all(1 <= s <= MAX_FRAME for s in frame_size):
        raise ValueError(f"frame size must be (height, width), each between 1 and {MAX_FRAME}, got {frame_size}")
    if kernel_size not in KERNEL_SIZES:
        raise ValueError(f"kernel size must be one of {KERNEL_SIZES} (odd, so the states keep the frame size)")
