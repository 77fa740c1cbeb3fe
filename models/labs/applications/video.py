"""Video, synchronised many-to-many: a ConvLSTM that predicts the next frame and labels every frame's phase, against
two baselines, copying the last frame and the same heads on a per-frame CNN without memory."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from models.blocks.conv_recurrent import ConvLSTM, ConvLSTMTrace
from models.core.device import model_device
from models.core.engine import StepContext, StepOutput
from models.core.evaluation import inference
from models.data.videos import PHASES

BODIES = ("convlstm", "cnn")


class VideoOutput(NamedTuple):
    """Logits of the next frame ``(B, T, 1, H, W)`` (entry t predicts frame t + 1) and of the phase ``(B, T, P)``."""

    next_frame: torch.Tensor
    phase: torch.Tensor


@dataclass
class VideoModelTrace:
    """``output`` (as ``forward`` returns it) and the ConvLSTM's internals (None for the per-frame CNN)."""

    output: VideoOutput
    recurrent: ConvLSTMTrace | None
    features: torch.Tensor  # the maps the heads read, (B, T, hidden, H, W)


class PerFrameCNN(nn.Module):
    """Two 3x3 convolutions with ReLU, applied to every frame on its own: ``(B, T, C, H, W) -> (B, T, hidden, H, W)``
    (a 5x5 receptive field within the frame, nothing from the frames before)."""

    def __init__(self, input_channels: int, hidden_channels: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(input_channels, hidden_channels, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(hidden_channels, hidden_channels, 3, padding=1),
            nn.ReLU(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.flatten(0, 1)).unflatten(0, x.shape[:2])


class VideoModel(nn.Module):
    """A body (``"convlstm"`` or the memoryless ``"cnn"``) and two heads on its maps h_t: the next frame
    (a 3x3 convolution to one channel of logits) and the phase (a linear layer on h_t's channel-wise mean and
    max over the pixels)."""

    def __init__(
        self,
        body: str = "convlstm",
        hidden_channels: int = 8,
        frame_size: tuple[int, int] = (16, 16),
        kernel_size: int = 3,
        n_phases: int = len(PHASES),
    ):
        super().__init__()
        if body not in BODIES:
            raise ValueError(f"body must be one of {BODIES}, got {body!r}")
        self.kind, self.frame_size, self.kernel_size = body, tuple(frame_size), kernel_size
        if body == "convlstm":
            self.body = ConvLSTM(1, hidden_channels, frame_size, kernel_size)
        else:
            self.body = PerFrameCNN(1, hidden_channels)
        self.frame_head = nn.Conv2d(hidden_channels, 1, 3, padding=1)
        self.phase_head = nn.Linear(2 * hidden_channels, n_phases)

    def config(self) -> dict:
        return {
            "body": self.kind,
            "hidden_channels": self.frame_head.in_channels,
            "frame_size": list(self.frame_size),
            "kernel_size": self.kernel_size,
            "n_phases": self.phase_head.out_features,
        }

    def check_input(self, videos: torch.Tensor) -> None:
        if videos.dim() != 5 or videos.shape[2] != 1 or tuple(videos.shape[3:]) != self.frame_size:
            raise ValueError(
                f"expected videos (B, T, 1, {self.frame_size[0]}, {self.frame_size[1]}), got {tuple(videos.shape)}"
            )
        if videos.shape[1] < 1:
            raise ValueError("the video has no frames (T = 0)")

    def heads(self, maps: torch.Tensor) -> VideoOutput:
        """Both heads on the maps ``(B, T, hidden, H, W)``."""
        next_frame = self.frame_head(maps.flatten(0, 1)).unflatten(0, maps.shape[:2])  # (B, T, 1, H, W)
        pooled = torch.cat([maps.mean(dim=(-2, -1)), maps.amax(dim=(-2, -1))], dim=-1)  # (B, T, 2 hidden)
        return VideoOutput(next_frame, self.phase_head(pooled))

    def forward(self, videos: torch.Tensor) -> VideoOutput:
        self.check_input(videos)
        return self.heads(self.body(videos))

    def trace(self, videos: torch.Tensor) -> VideoModelTrace:
        self.check_input(videos)
        recurrent = self.body.trace(videos) if self.kind == "convlstm" else None
        maps = recurrent.hidden if recurrent is not None else self.body(videos)
        return VideoModelTrace(output=self.heads(maps), recurrent=recurrent, features=maps)


def video_loss(output: VideoOutput, videos: torch.Tensor, phases: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy of the predicted frames t + 1 (t = 1..T-1) plus cross-entropy of every frame's phase."""
    frames = F.binary_cross_entropy_with_logits(output.next_frame[:, :-1], videos[:, 1:])
    return frames + F.cross_entropy(output.phase.flatten(0, 1), phases.flatten())


def frame_iou(predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """|P & Y| / |P | Y| of binary frames ``(..., H, W)``, per frame (1 where both are empty)."""
    p, y = predicted.bool().flatten(-2), target.bool().flatten(-2)
    union = (p | y).sum(-1)
    return torch.where(union > 0, (p & y).sum(-1) / union.clamp(min=1), torch.ones_like(union, dtype=torch.float))


def next_frame_iou(next_frame_logits: torch.Tensor, videos: torch.Tensor) -> torch.Tensor:
    """Mean IoU of the predicted frames t + 1 (logits > 0, i.e. probability > 1/2) against the true ones."""
    return frame_iou(next_frame_logits[:, :-1] > 0, videos[:, 1:]).mean()


def video_step(model: VideoModel, batch: tuple[torch.Tensor, torch.Tensor], context: StepContext) -> StepOutput:
    """The engine's step: :func:`video_loss`; reports the next-frame IoU and the phase accuracy."""
    videos, phases = batch
    output = model(videos)
    metrics = {
        "iou": next_frame_iou(output.next_frame.detach(), videos),
        "accuracy": (output.phase.detach().argmax(-1) == phases).float().mean(),
    }
    return StepOutput(loss=video_loss(output, videos, phases), metrics=metrics)


@dataclass
class VideoScores:
    """Test scores: next-frame IoU, phase accuracy per frame, and the phase accuracy at each frame index ``(T,)``."""

    iou: float
    accuracy: float
    accuracy_by_frame: list[float]


def evaluate_video(model: VideoModel, batches) -> VideoScores:
    """The model's scores over ``batches`` of ``(videos, phases)``."""
    ious, hits = [], []
    device = model_device(model)
    with inference(model):
        for videos, phases in batches:
            output = model(videos.to(device))
            ious.append(frame_iou(output.next_frame[:, :-1].cpu() > 0, videos[:, 1:]).flatten(1))
            hits.append((output.phase.argmax(-1).cpu() == phases).float())
    hits = torch.cat(hits)  # (N, T)
    return VideoScores(float(torch.cat(ious).mean()), float(hits.mean()), hits.mean(0).tolist())


def copy_last_iou(batches) -> float:
    """The baseline that predicts frame t + 1 as a copy of frame t: its mean IoU over ``batches`` of
    ``(videos, phases)``."""
    return float(torch.cat([frame_iou(v[:, :-1], v[:, 1:]).flatten() for v, _ in batches]).mean())


@dataclass
class VideoView:
    """One video as the page shows it (NumPy): ``frames (T, H, W)``, ``phases (T,)``; per model ``next_frame``
    p(frame t+1) ``(T, H, W)`` and ``phase`` predictions ``(T,)``; the ConvLSTM's ``hidden`` and ``cell`` maps
    ``(T, C, H, W)`` (None without a ConvLSTM)."""

    frames: np.ndarray
    phases: np.ndarray
    next_frame: dict[str, np.ndarray]
    phase: dict[str, np.ndarray]
    hidden: np.ndarray | None
    cell: np.ndarray | None


def video_view(models: dict[str, VideoModel], videos: torch.Tensor, phases: torch.Tensor, index: int) -> VideoView:
    """Every model's trace of video ``index`` of ``videos (N, T, 1, H, W)``, as arrays to draw."""
    next_frame, phase, recurrent = {}, {}, None
    for name, model in models.items():
        with inference(model):
            trace = model.trace(videos[index : index + 1].to(model_device(model)))
        next_frame[name] = trace.output.next_frame[0, :, 0].sigmoid().cpu().numpy()
        phase[name] = trace.output.phase[0].argmax(-1).cpu().numpy()
        recurrent = trace.recurrent if trace.recurrent is not None else recurrent
    maps = (None, None) if recurrent is None else (m[0].cpu().numpy() for m in (recurrent.hidden, recurrent.cell))
    return VideoView(videos[index, :, 0].numpy(), phases[index].numpy(), next_frame, phase, *maps)
