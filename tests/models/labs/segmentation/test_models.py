"""Attention U-Net and U-Transformer: shapes at every size the lab allows, attention rows and gates, the
bottleneck against nn.MultiheadAttention, and clear errors for what cannot work."""

import math

import pytest
import torch

from models.blocks.unet import DEPTHS, UNet
from models.labs.segmentation.models import (
    ARCHITECTURES,
    MAX_ATTENTION_TOKENS,
    AttentionUNet,
    BottleneckSelfAttention,
    SkipCrossAttention,
    UTransformer,
    build_model,
)

SIZES = (32, 64, 96, 128)


def _allowed(architecture: str, depth: int, size: int) -> bool:
    return architecture != "utransformer" or (size >> depth) ** 2 <= MAX_ATTENTION_TOKENS


@pytest.mark.parametrize("architecture", ARCHITECTURES)
@pytest.mark.parametrize("depth", DEPTHS)
@pytest.mark.parametrize("size", SIZES)
def test_shapes_for_every_depth_and_size(architecture, depth, size):
    model = build_model(architecture, depth=depth, base_channels=4).eval()
    x = torch.rand(2, 1, size, size)
    if not _allowed(architecture, depth, size):
        with pytest.raises(ValueError, match="bottleneck tokens"):
            model(x)
        return
    trace = model.trace(x)
    logits = trace.output
    assert logits.shape == (2, 2, size, size)
    assert torch.isfinite(logits).all()
    if architecture == "utransformer":
        n = (size >> depth) ** 2
        assert trace.bottleneck_attention.shape == (2, 4, n, n)
        assert trace.bottleneck_shape == (size >> depth, size >> depth)
        assert sorted(trace.skip_gates) == list(range(1, depth))
    elif architecture == "attention_unet":
        assert trace.bottleneck_attention is None
        assert sorted(trace.skip_gates) == list(range(depth))
    else:
        assert trace.bottleneck_attention is None and not trace.skip_gates
    for level, gate in trace.skip_gates.items():
        assert gate.shape[-2:] == (size >> level, size >> level)


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_attention_rows_sum_to_one_and_gates_lie_in_unit_interval(architecture):
    torch.manual_seed(0)
    model = build_model(architecture, depth=2).eval()
    trace = model.trace(torch.rand(3, 1, 64, 64) * 4)
    attentions = [trace.bottleneck_attention, *trace.skip_attention.values()]
    for A in (a for a in attentions if a is not None):
        assert (A >= 0).all()
        torch.testing.assert_close(A.sum(-1), torch.ones(A.shape[:-1]))
    for gate in trace.skip_gates.values():
        assert gate.min() >= 0 and gate.max() <= 1


def test_bottleneck_self_attention_matches_torch_multihead_attention():
    torch.manual_seed(0)
    block = BottleneckSelfAttention(16, n_heads=4, pe_scale=0.0).eval()
    x = torch.randn(2, 16, 4, 4)
    out, A = block(x)
    reference = torch.nn.MultiheadAttention(16, 4, batch_first=True)
    with torch.no_grad():
        mha = block.attention
        reference.in_proj_weight.copy_(torch.cat([mha.q_proj.weight, mha.k_proj.weight, mha.v_proj.weight]))
        reference.in_proj_bias.copy_(torch.cat([mha.q_proj.bias, mha.k_proj.bias, mha.v_proj.bias]))
        reference.out_proj.weight.copy_(mha.out_proj.weight)
        reference.out_proj.bias.copy_(mha.out_proj.bias)
    tokens = x.flatten(2).transpose(1, 2)
    z = block.norm(tokens)
    ref_out, ref_A = reference(z, z, z, average_attn_weights=False)
    torch.testing.assert_close(out.flatten(2).transpose(1, 2), tokens + ref_out)
    torch.testing.assert_close(A, ref_A)


def test_zero_output_projection_turns_the_utransformer_bottleneck_into_the_identity():
    block = BottleneckSelfAttention(16, n_heads=2)
    torch.nn.init.zeros_(block.attention.out_proj.weight)
    torch.nn.init.zeros_(block.attention.out_proj.bias)
    x = torch.randn(1, 16, 4, 4)
    torch.testing.assert_close(block(x)[0], x)


def test_positional_encoding_makes_attention_depend_on_position():
    torch.manual_seed(0)
    block = BottleneckSelfAttention(16, n_heads=2).eval()
    x = torch.zeros(1, 16, 4, 4)  # identical content everywhere: only P can make rows differ
    _, A = block(x)
    assert not torch.allclose(A[0, :, 0], A[0, :, 5])
    block.pe_scale = 0.0
    _, A = block(x)
    torch.testing.assert_close(A, torch.full_like(A, 1 / 16))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"depth": 5}, "depth"),
        ({"depth": 0}, "depth"),
        ({"base_channels": 7}, "base_channels"),
        ({"num_classes": 1}, "num_classes"),
    ],
)
def test_bad_configurations_raise_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        AttentionUNet(**kwargs)


def test_bad_input_shapes_raise_clear_errors():
    model = UNet(depth=2)
    with pytest.raises(ValueError, match="multiples of 2"):
        model(torch.rand(1, 1, 30, 30))
    with pytest.raises(ValueError, match="expected images"):
        model(torch.rand(1, 3, 64, 64))


def test_skip_cross_attention_gates_the_skip_with_values_from_it():
    """Q, K from the decoder map Y, V from the skip map S: the gate G lies in [0, 1] and the output is G * S."""
    torch.manual_seed(1)
    block = SkipCrossAttention(32, 16, n_heads=2).eval()
    y, s = torch.randn(2, 32, 4, 4), torch.randn(2, 16, 8, 8)
    gated, G, A = block(y, s)
    assert G.shape == s.shape and A.shape == (2, 2, 16, 16)
    assert G.min() >= 0 and G.max() <= 1
    torch.testing.assert_close(gated, G * s)
    torch.testing.assert_close(A.sum(-1), torch.ones(2, 2, 16))


def test_every_model_returns_its_output_through_its_trace():
    x = torch.rand(2, 1, 32, 32)
    for architecture in ARCHITECTURES:
        model = build_model(architecture, depth=2, base_channels=4).eval()
        torch.testing.assert_close(model.trace(x).output, model(x))


def test_unet_parameter_count_is_the_documented_backbone():
    assert sum(p.numel() for p in UNet().parameters()) == 118_322
    assert math.isclose(sum(p.numel() for p in UTransformer().parameters()) / 118_322, 1.23, abs_tol=0.02)
