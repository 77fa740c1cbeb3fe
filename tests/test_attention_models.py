"""Attention lab models against independent references: torch's SDPA, nn.MultiheadAttention, nn.LayerNorm."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from models.attention import (
    EncoderBlock,
    LayerNorm,
    MultiHeadSelfAttention,
    TransformerEncoder,
    attention_rollout,
    head_mean,
    scaled_dot_product_attention,
)
from models.attention_tasks import DEFAULTS, ModelConfig, ToyTask, build_model
from models.vit import ViT, ViTConfig, integrated_gradients, patchify


def test_sdpa_matches_torch_with_and_without_mask():
    torch.manual_seed(0)
    q, k, v = torch.randn(2, 3, 5, 8), torch.randn(2, 3, 7, 8), torch.randn(2, 3, 7, 4)
    out, weights = scaled_dot_product_attention(q, k, v)
    assert torch.allclose(out, F.scaled_dot_product_attention(q, k, v), atol=1e-5)
    assert weights.shape == (2, 3, 5, 7)
    assert torch.allclose(weights.sum(-1), torch.ones(2, 3, 5), atol=1e-6)
    mask = torch.rand(5, 7) > 0.4
    mask[:, 0] = True  # every query may attend to at least one key
    out, weights = scaled_dot_product_attention(q, k, v, mask)
    assert torch.allclose(out, F.scaled_dot_product_attention(q, k, v, attn_mask=mask), atol=1e-5)
    assert (weights[..., ~mask] == 0).all()


def test_sdpa_rejects_bad_inputs():
    q = torch.randn(1, 4, 8)
    with pytest.raises(ValueError, match="same width"):
        scaled_dot_product_attention(q, torch.randn(1, 4, 6), torch.randn(1, 4, 6))
    with pytest.raises(ValueError, match="boolean"):
        scaled_dot_product_attention(q, q, q, torch.ones(4, 4))


@pytest.mark.parametrize("use_mask", [False, True])
def test_multi_head_matches_nn_multihead_attention(use_mask):
    torch.manual_seed(1)
    reference = nn.MultiheadAttention(16, 4, batch_first=True)
    ours = MultiHeadSelfAttention(16, 4)
    ours.load_torch_weights(reference)
    x = torch.randn(3, 6, 16)
    mask = torch.ones(6, 6, dtype=torch.bool).tril() if use_mask else None
    y, weights = ours(x, mask)
    ref_mask = None if mask is None else ~mask  # torch: True = may NOT attend
    y_ref, w_ref = reference(x, x, x, attn_mask=ref_mask, need_weights=True, average_attn_weights=False)
    assert weights.shape == (3, 4, 6, 6)
    assert torch.allclose(y, y_ref, atol=1e-5)
    assert torch.allclose(weights, w_ref, atol=1e-6)


def test_heads_must_divide_d_model():
    with pytest.raises(ValueError, match="must divide d_model"):
        MultiHeadSelfAttention(10, 3)
    with pytest.raises(ValueError, match="positive integer"):
        MultiHeadSelfAttention(16, 0)


def test_layer_norm_matches_torch():
    torch.manual_seed(2)
    ours, reference = LayerNorm(12), nn.LayerNorm(12)
    with torch.no_grad():
        for p in (ours.weight, ours.bias):
            p.normal_()
        reference.weight.copy_(ours.weight)
        reference.bias.copy_(ours.bias)
    x = 3 * torch.randn(4, 5, 12) + 1
    assert torch.allclose(ours(x), reference(x), atol=1e-5)


@pytest.mark.parametrize("norm_first", [False, True])
def test_encoder_block_matches_torch_encoder_layer(norm_first):
    """Our block and nn.TransformerEncoderLayer (ReLU, no dropout) compute the same thing from the same weights."""
    torch.manual_seed(3)
    ours = EncoderBlock(16, 4, 32, norm_first=norm_first).eval()
    reference = nn.TransformerEncoderLayer(16, 4, 32, dropout=0.0, batch_first=True, norm_first=norm_first).eval()
    ours.attention.load_torch_weights(reference.self_attn)
    with torch.no_grad():
        for mine, theirs in (
            (ours.ffn.linear1, reference.linear1),
            (ours.ffn.linear2, reference.linear2),
            (ours.norm1, reference.norm1),
            (ours.norm2, reference.norm2),
        ):
            mine.weight.copy_(theirs.weight)
            mine.bias.copy_(theirs.bias)
    x = torch.randn(2, 7, 16)
    y, weights = ours(x)
    with torch.no_grad():
        assert torch.allclose(y, reference(x), atol=1e-5)
    assert weights.shape == (2, 4, 7, 7)


def test_stack_returns_hidden_states_and_attentions():
    encoder = TransformerEncoder(3, 16, 2, 32)
    output = encoder(torch.randn(2, 5, 16))
    assert len(output.hidden_states) == 4 and len(output.attentions) == 3
    assert all(a.shape == (2, 2, 5, 5) for a in output.attentions)
    assert torch.equal(output.hidden_states[-1], output.last_hidden_state)


def test_permutation_equivariance_without_positional_encoding():
    """Without PE, permuting the input tokens permutes the outputs and attention the same way."""
    torch.manual_seed(4)
    model = build_model(ToyTask("reverse"), ModelConfig(positional="none")).eval()
    tokens = torch.randint(8, (2, 8))
    perm = torch.randperm(8)
    with torch.no_grad():
        trace, permuted = model.inspect(tokens), model.inspect(tokens[:, perm])
    assert torch.allclose(permuted.logits, trace.logits[:, perm], atol=1e-5)
    a, a_perm = trace.encoder.attentions[0], permuted.encoder.attentions[0]
    assert torch.allclose(a_perm, a[:, :, perm][:, :, :, perm], atol=1e-6)


def test_positional_encoding_breaks_equivariance():
    torch.manual_seed(4)
    model = build_model(ToyTask("reverse"), ModelConfig(positional="sinusoidal")).eval()
    tokens = torch.randint(8, (2, 8))
    perm = torch.roll(torch.arange(8), 1)
    with torch.no_grad():
        assert not torch.allclose(model(tokens[:, perm]), model(tokens)[:, perm], atol=1e-3)


def test_rollout_rows_sum_to_one_and_head_mean():
    torch.manual_seed(5)
    attentions = [torch.rand(2, 3, 6, 6).softmax(-1) for _ in range(3)]
    rollout = attention_rollout(attentions)
    assert rollout.shape == (2, 6, 6)
    assert torch.allclose(rollout.sum(-1), torch.ones(2, 6), atol=1e-5)
    assert torch.allclose(head_mean(attentions[0]), attentions[0].mean(1))
    # one layer, no residual: rollout is the head mean itself
    assert torch.allclose(attention_rollout(attentions[:1], residual=0.0), head_mean(attentions[0]), atol=1e-6)
    with pytest.raises(ValueError):
        attention_rollout([])


def test_tasks_targets_are_right():
    tokens = torch.tensor([[3, 1, 2, 1]])
    assert ToyTask("reverse", length=4).targets(tokens).tolist() == [[1, 2, 1, 3]]
    assert ToyTask("sort", length=4).targets(tokens).tolist() == [[1, 1, 2, 3]]
    assert ToyTask("count", length=4).targets(tokens).tolist() == [[1, 2, 1, 2]]
    assert ToyTask("offset_copy", length=4, offset=1).targets(tokens).tolist() == [[-100, 3, 1, 2]]


def test_task_input_checks():
    with pytest.raises(ValueError, match="task must be"):
        ToyTask("juggle")
    with pytest.raises(ValueError, match="sequence length"):
        ToyTask(length=1000)
    task = ToyTask("reverse", length=4)
    assert task.parse("1, 2 3 0").tolist() == [[1, 2, 3, 0]]
    for bad in ("1 2 3", "a b c d", "1 2 3 99"):
        with pytest.raises(ValueError):
            task.parse(bad)


def test_every_default_has_a_model():
    for recipe in DEFAULTS.values():
        logits = build_model(recipe.task, recipe.model)(recipe.task.sample(0, torch.Generator())[0])
        assert logits.shape == (recipe.task.batch_size, recipe.task.length, recipe.task.n_classes)


def test_patchify_and_vit_shapes():
    images = torch.arange(2 * 4 * 4, dtype=torch.float32).reshape(2, 4, 4)
    patches = patchify(images, 2)
    assert patches.shape == (2, 4, 4)
    assert patches[0, 1].tolist() == [2.0, 3.0, 6.0, 7.0]  # top-right patch, row by row
    with pytest.raises(ValueError, match="must divide"):
        patchify(images, 3)
    with pytest.raises(ValueError, match="patch size"):
        ViTConfig(patch_size=3)
    model = ViT(ViTConfig())
    trace = model.inspect(torch.rand(3, 8, 8))
    assert trace.logits.shape == (3, 10)
    assert trace.cls_attention().shape == (2, 3, 4, 16)
    assert torch.allclose(trace.cls_rollout().sum(-1), torch.ones(3), atol=1e-5)
    with pytest.raises(ValueError, match="8x8"):
        model(torch.rand(1, 16, 16))


def test_integrated_gradients_completeness():
    """IG's attributions sum to f(x) - f(baseline) for the explained class (completeness axiom)."""
    torch.manual_seed(6)
    model = ViT().eval()
    image = torch.rand(8, 8)
    attribution = integrated_gradients(model, image, target=3, steps=64)
    with torch.no_grad():
        gap = (model(image[None])[0, 3] - model(torch.zeros(1, 8, 8))[0, 3]).item()
    assert attribution.shape == (8, 8)
    assert attribution.sum() == pytest.approx(gap, abs=0.05 * max(1.0, abs(gap)))


def test_token_attribution_completeness():
    """IG over the token embeddings sums to f(e) - f(0) for the explained position and class."""
    from models.attention_tasks import token_attribution

    torch.manual_seed(7)
    task = ToyTask("reverse")
    model = build_model(task).eval()
    tokens = task.sample(0, torch.Generator().manual_seed(0))[0][:1]
    scores = token_attribution(model, tokens, position=2, steps=64)
    with torch.no_grad():
        e = model.embed(tokens)
        logits = model.from_embeddings(e).logits[0, 2]
        target = int(logits.argmax())
        gap = (logits[target] - model.from_embeddings(torch.zeros_like(e)).logits[0, 2, target]).item()
    assert scores.shape == (8,)
    assert scores.sum() == pytest.approx(gap, abs=0.05 * max(1.0, abs(gap)))
    with pytest.raises(ValueError, match="position"):
        token_attribution(model, tokens, position=8)
