"""A small Vision Transformer on scikit-learn's bundled 8x8 digits, its CLS attention and an attribution.

Patches -> linear embedding e_i = x_i W^e, a learned CLS token, a learned positional embedding, the
transformer encoder, and the class read from the CLS token's output.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from captum.attr import IntegratedGradients
from torch import nn

from models.attention import EncoderOutput, TransformerEncoder, attention_rollout, check_heads
from models.checkpoint import load_checkpoint, load_weights, save_checkpoint
from models.engine import StepContext, StepOutput, TrainConfig, Trainer
from models.positional import LearnedPositionalEmbedding

N_TEST = 297


@dataclass(frozen=True)
class DigitsData:
    """The 1,797 8x8 digit images (pixels in [0, 1]), split once into train and test."""

    train_images: torch.Tensor  # (N, 8, 8)
    train_labels: torch.Tensor  # (N,)
    test_images: torch.Tensor
    test_labels: torch.Tensor


@lru_cache(maxsize=1)
def load_digits_data(seed: int = 0) -> DigitsData:
    from sklearn.datasets import load_digits  # the data file ships with scikit-learn

    digits = load_digits()
    images = torch.tensor(digits.images / 16.0, dtype=torch.float32)
    labels = torch.tensor(digits.target, dtype=torch.long)
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    test, train = order[:N_TEST], order[N_TEST:]
    return DigitsData(images[train], labels[train], images[test], labels[test])


def patchify(images: torch.Tensor, patch_size: int) -> torch.Tensor:
    """Cut ``(B, H, W)`` images into non-overlapping p x p patches, row by row: ``(B, H/p * W/p, p*p)``."""
    if images.dim() != 3:
        raise ValueError(f"expected a batch of grey images (batch, height, width), got shape {tuple(images.shape)}")
    batch, height, width = images.shape
    if height % patch_size or width % patch_size:
        raise ValueError(f"patch size {patch_size} must divide the image size {height}x{width}")
    p = patch_size
    patches = images.reshape(batch, height // p, p, width // p, p).permute(0, 1, 3, 2, 4)  # (B, h, w, p, p)
    return patches.reshape(batch, (height // p) * (width // p), p * p)


@dataclass(frozen=True)
class ViTConfig:
    image_size: int = 8
    patch_size: int = 2
    d_model: int = 32
    n_heads: int = 4
    n_layers: int = 2
    d_ff: int = 64
    n_classes: int = 10

    def __post_init__(self):
        if not 2 <= self.image_size <= 64:
            raise ValueError(f"image size must be between 2 and 64 pixels, got {self.image_size}")
        if self.patch_size < 1 or self.image_size % self.patch_size:
            raise ValueError(f"patch size must divide the image size {self.image_size}, got {self.patch_size}")
        check_heads(self.d_model, self.n_heads)

    @property
    def grid(self) -> int:
        return self.image_size // self.patch_size


@dataclass
class ViTTrace:
    """logits (B, classes), the encoder's output over [CLS, patch_1 .. patch_N], and the patches."""

    logits: torch.Tensor
    encoder: EncoderOutput
    patches: torch.Tensor  # (B, N, p*p)

    def cls_attention(self) -> torch.Tensor:
        """What CLS attends to among the patches, per layer and head: ``(layers, B, heads, N)``."""
        return torch.stack([a[:, :, 0, 1:] for a in self.encoder.attentions])

    def cls_rollout(self) -> torch.Tensor:
        """The CLS row of the attention rollout over the patches, ``(B, N)`` (renormalised to sum 1)."""
        row = attention_rollout(self.encoder.attentions)[:, 0, 1:]
        return row / row.sum(-1, keepdim=True)


class ViT(nn.Module):
    """Patches -> e_i = x_i W^e -> [CLS; e_1..e_N] + p -> encoder -> linear head on CLS."""

    def __init__(self, config: ViTConfig = ViTConfig()):
        super().__init__()
        self.config = config
        n_patches = config.grid**2
        self.patch_embed = nn.Linear(config.patch_size**2, config.d_model)  # W^e
        self.cls_token = nn.Parameter(torch.zeros(1, 1, config.d_model))
        self.positional = LearnedPositionalEmbedding(n_patches + 1, config.d_model)
        self.encoder = TransformerEncoder(config.n_layers, config.d_model, config.n_heads, config.d_ff, norm_first=True)
        self.head = nn.Linear(config.d_model, config.n_classes)

    def inspect(self, images: torch.Tensor) -> ViTTrace:
        size = self.config.image_size
        if images.dim() != 3 or images.shape[1:] != (size, size):
            raise ValueError(f"this ViT takes {size}x{size} grey images, got shape {tuple(images.shape)}")
        patches = patchify(images, self.config.patch_size)  # (B, N, p*p)
        tokens = self.patch_embed(patches)  # (B, N, d)
        cls = self.cls_token.expand(len(images), -1, -1)  # (B, 1, d)
        encoded = self.encoder(self.positional(torch.cat([cls, tokens], dim=1)))  # (B, N+1, d)
        return ViTTrace(logits=self.head(encoded.last_hidden_state[:, 0]), encoder=encoded, patches=patches)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.inspect(images).logits  # (B, classes)


def digits_batches(batch_size: int = 64):
    """batch_fn for the engine: random training digits."""
    data = load_digits_data()

    def batch_fn(step: int, generator: torch.Generator):
        index = torch.randint(len(data.train_labels), (batch_size,), generator=generator)
        return data.train_images[index], data.train_labels[index]

    return batch_fn


def classify_step(model: nn.Module, batch, context: StepContext) -> StepOutput:
    images, labels = batch
    logits = model(images)
    accuracy = (logits.argmax(-1) == labels).float().mean()
    return StepOutput(loss=F.cross_entropy(logits, labels), metrics={"accuracy": accuracy.detach()})


@torch.no_grad()
def test_accuracy(model: ViT) -> float:
    data = load_digits_data()
    device = next(model.parameters()).device
    model.eval()
    predictions = model(data.test_images.to(device)).argmax(-1).cpu()
    return (predictions == data.test_labels).float().mean().item()


PRETRAIN_STEPS = 600
PRETRAIN_LR = 3e-3
TARGET_TEST_ACCURACY = 0.9


def vit_trainer(
    model: ViT | None = None, steps: int = PRETRAIN_STEPS, lr: float = PRETRAIN_LR, seed: int = 0, device=None
):
    torch.manual_seed(seed)
    model = model if model is not None else ViT()
    config = TrainConfig(steps=steps, lr=lr, clip_norm=1.0, seed=seed, chunk_size=25)
    return Trainer(model, classify_step, digits_batches(), config, device=device)


def integrated_gradients(model: ViT, image: torch.Tensor, target: int | None = None, steps: int = 32) -> np.ndarray:
    """Captum's Integrated Gradients of the class logit w.r.t. each pixel (baseline: a black image), (H, W)."""
    model.eval()
    device = next(model.parameters()).device
    x = image[None].to(device)  # (1, H, W)
    if target is None:
        target = int(model(x).argmax(-1))
    attribution = IntegratedGradients(model).attribute(x, baselines=torch.zeros_like(x), target=target, n_steps=steps)
    return attribution[0].detach().cpu().numpy()


def checkpoint_path(assets: Path) -> Path:
    return assets / "attention_vit_digits.pt"


def pretrain(assets: Path) -> list[Path]:
    trainer = vit_trainer(device="cpu")
    history = trainer.run()
    curve = {name: history.column(name).round(4).tolist() for name in ("step", "loss", "accuracy")}
    meta = {"test_accuracy": test_accuracy(trainer.model), "curve": curve}
    return [save_checkpoint(checkpoint_path(assets), trainer.model, asdict(trainer.model.config), meta)]


def load_pretrained_vit(path: Path) -> tuple[ViT, dict]:
    checkpoint = load_checkpoint(path)
    model = load_weights(ViT(ViTConfig(**checkpoint.config)), checkpoint, path)
    return model.eval(), checkpoint.meta


@dataclass
class ViTExplanation:
    """One image explained: class probabilities, CLS attention (L, H, g, g), its rollout (g, g), IG (H, W)."""

    probabilities: np.ndarray
    prediction: int
    cls_attention: np.ndarray
    rollout: np.ndarray
    attribution: np.ndarray


def explain(model: ViT, image: torch.Tensor, ig_steps: int = 32) -> ViTExplanation:
    """Attention (what CLS looks at) and attribution (what moves the logit) for one ``(H, W)`` image."""
    model.eval()
    device = next(model.parameters()).device
    grid = model.config.grid
    with torch.no_grad():
        trace = model.inspect(image[None].to(device))
    probabilities = trace.logits.softmax(-1)[0].cpu().numpy()
    prediction = int(probabilities.argmax())
    cls_attention = trace.cls_attention()[:, 0]  # (L, H, N)
    return ViTExplanation(
        probabilities=probabilities,
        prediction=prediction,
        cls_attention=cls_attention.reshape(*cls_attention.shape[:2], grid, grid).cpu().numpy(),
        rollout=trace.cls_rollout()[0].reshape(grid, grid).cpu().numpy(),
        attribution=integrated_gradients(model, image, prediction, ig_steps),
    )
