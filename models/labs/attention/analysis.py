"""What the attention lab's views show: a trained transformer's attention maps for one input, its
permutation equivariance without a positional encoding, and attributions per input token."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from captum.attr import IntegratedGradients

from models.blocks.attention import attention_rollout, head_mean
from models.blocks.transformer import TokenTransformer
from models.core.device import model_device
from models.core.evaluation import IGNORE_INDEX, inference
from models.data.tokens import ToyTask


def equivariance_gap(model: TokenTransformer, tokens: torch.Tensor, permutation: torch.Tensor) -> float:
    """max |f(x_perm) - f(x)_perm|: 0 (up to float error) without positional encoding."""
    with inference(model):
        return (model(tokens[:, permutation]) - model(tokens)[:, permutation]).abs().max().item()


@dataclass
class AttentionMaps:
    """Everything the page shows for one input, as numpy: A per layer/head, head means, rollout, outputs."""

    tokens: list[str]
    attentions: np.ndarray  # (L, H, T, T)
    head_means: np.ndarray  # (L, T, T)
    rollout: np.ndarray  # (T, T)
    predictions: list[int]
    targets: list[int]

    @property
    def accuracy(self) -> float:
        scored = [(p, t) for p, t in zip(self.predictions, self.targets, strict=True) if t != IGNORE_INDEX]
        return sum(p == t for p, t in scored) / max(len(scored), 1)


def attention_maps(model: TokenTransformer, task: ToyTask, tokens: torch.Tensor) -> AttentionMaps:
    """Run ``model`` on one sequence ``tokens`` (1, T) and collect its attention maps."""
    with inference(model):
        trace = model.trace(tokens.to(model_device(model)))
    attentions = torch.stack(trace.encoder.attentions)[:, 0]  # (L, H, T, T)
    return AttentionMaps(
        tokens=[str(t) for t in tokens[0].tolist()],
        attentions=attentions.cpu().numpy(),
        head_means=head_mean(attentions).cpu().numpy(),
        rollout=attention_rollout(trace.encoder.attentions)[0].cpu().numpy(),
        predictions=trace.output.argmax(-1)[0].tolist(),
        targets=task.targets(tokens)[0].tolist(),
    )


def token_attribution(model: TokenTransformer, tokens: torch.Tensor, position: int, steps: int = 32) -> np.ndarray:
    """Captum's Integrated Gradients of the predicted class at ``position`` w.r.t. each input token's embedding
    e_t (baseline: e = 0, the positional encoding kept), summed over the features: one signed score per token."""
    if not 0 <= position < tokens.shape[1]:
        raise ValueError(f"position must be between 0 and {tokens.shape[1] - 1}, got {position}")
    model.eval()
    embeddings = model.embed(tokens.to(model_device(model))).detach()  # (1, T, d)

    def logits_at(e: torch.Tensor) -> torch.Tensor:
        return model.trace_embeddings(e).output[:, position]  # (B, classes)

    target = int(logits_at(embeddings).argmax(-1))
    attribution = IntegratedGradients(logits_at).attribute(
        embeddings, baselines=torch.zeros_like(embeddings), target=target, n_steps=steps
    )
    return attribution[0].sum(-1).detach().cpu().numpy()


def rotation(length: int, shift: int) -> torch.Tensor:
    """The permutation that rotates ``length`` tokens by ``shift`` places."""
    if not 0 < shift < length:
        raise ValueError(f"the rotation must be between 1 and {length - 1}, got {shift}")
    return torch.roll(torch.arange(length), shift)


def head_difference(attention: torch.Tensor) -> float:
    """How different the heads of one layer are: the total-variation distance 1/2 sum_k |A_i[q, k] - A_j[q, k]|
    between two heads' rows, averaged over queries, inputs and pairs of heads (0: identical, 1: disjoint).
    ``attention`` is ``(B, heads, T, T)``."""
    heads = attention.shape[1]
    if heads < 2:
        return 0.0
    pairs = [(i, j) for i in range(heads) for j in range(i + 1, heads)]
    return float(sum(0.5 * (attention[:, i] - attention[:, j]).abs().sum(-1).mean() for i, j in pairs) / len(pairs))


HEAD_DIFFERENCE_INPUTS = 64


def head_differences(model: TokenTransformer, task: ToyTask) -> list[float]:
    """:func:`head_difference` of every layer, on ``HEAD_DIFFERENCE_INPUTS`` held-out inputs of ``task``."""
    tokens, _ = next(iter(task.test_batches()))
    with inference(model):
        trace = model.trace(tokens[:HEAD_DIFFERENCE_INPUTS].to(model_device(model)))
    return [head_difference(attention) for attention in trace.encoder.attentions]


@dataclass
class MultiHeadView:
    """One layer on one input, as the slide draws multi-head attention: each head's A_h (h, T, T) and output
    A_h V_h (h, T, d_head), their concatenation (T, d), W_o (d, d), and the layer's output concat W_o (T, d)."""

    attention: np.ndarray
    head_outputs: np.ndarray
    concatenated: np.ndarray
    W_o: np.ndarray
    output: np.ndarray
    d_head: int


def multi_head_view(model: TokenTransformer, tokens: torch.Tensor, layer: int) -> MultiHeadView:
    with inference(model):
        attended = model.trace(tokens.to(model_device(model))).encoder.layers[layer]
    heads = attended.head_outputs[0]  # (h, T, d_head)
    concatenated = heads.transpose(0, 1).reshape(heads.shape[1], -1)  # (T, d)
    W_o = model.encoder.blocks[layer].attention.out_proj.weight.detach().T  # (d, d): y = concat W_o + b_o
    return MultiHeadView(
        attention=attended.weights[0].cpu().numpy(),
        head_outputs=heads.cpu().numpy(),
        concatenated=concatenated.cpu().numpy(),
        W_o=W_o.cpu().numpy(),
        output=attended.output[0].cpu().numpy(),
        d_head=heads.shape[-1],
    )
