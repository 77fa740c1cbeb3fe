import math

import pytest
import torch
import torch.nn.functional as F

from models.segmentation import (
    ARCHITECTURES,
    DEPTHS,
    MAX_ATTENTION_TOKENS,
    AttentionUNet,
    MultiHeadSelfAttention,
    UNet,
    UTransformer,
    _decoder_interval,
    attention_weights,
    build_model,
    theoretical_receptive_field,
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
    logits, trace = model(x, return_attention=True)
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
    _, trace = model(torch.rand(3, 1, 64, 64) * 4, return_attention=True)
    attentions = [trace.bottleneck_attention, *trace.skip_attention.values()]
    for A in (a for a in attentions if a is not None):
        assert (A >= 0).all()
        torch.testing.assert_close(A.sum(-1), torch.ones(A.shape[:-1]))
    for gate in trace.skip_gates.values():
        assert gate.min() >= 0 and gate.max() <= 1


def test_attention_weights_match_scaled_dot_product_attention():
    torch.manual_seed(0)
    q, k, v = torch.randn(3, 2, 4, 10, 8).unbind(0)
    expected = F.scaled_dot_product_attention(q, k, v)
    torch.testing.assert_close(attention_weights(q, k) @ v, expected)


def test_bottleneck_self_attention_matches_torch_multihead_attention():
    torch.manual_seed(0)
    block = MultiHeadSelfAttention(16, n_heads=4, pe_scale=0.0).eval()
    x = torch.randn(2, 16, 4, 4)
    out, A = block(x)
    reference = torch.nn.MultiheadAttention(16, 4, batch_first=True)
    with torch.no_grad():
        reference.in_proj_weight.copy_(torch.cat([block.W_q.weight, block.W_k.weight, block.W_v.weight]))
        reference.in_proj_bias.copy_(torch.cat([block.W_q.bias, block.W_k.bias, block.W_v.bias]))
        reference.out_proj.weight.copy_(block.W_o.weight)
        reference.out_proj.bias.copy_(block.W_o.bias)
    tokens = x.flatten(2).transpose(1, 2)
    z = block.norm(tokens)
    ref_out, ref_A = reference(z, z, z, average_attn_weights=False)
    torch.testing.assert_close(out.flatten(2).transpose(1, 2), tokens + ref_out)
    torch.testing.assert_close(A, ref_A)


def test_zero_output_projection_turns_the_utransformer_bottleneck_into_the_identity():
    block = MultiHeadSelfAttention(16, n_heads=2)
    torch.nn.init.zeros_(block.W_o.weight)
    torch.nn.init.zeros_(block.W_o.bias)
    x = torch.randn(1, 16, 4, 4)
    torch.testing.assert_close(block(x)[0], x)


def test_positional_encoding_makes_attention_depend_on_position():
    torch.manual_seed(0)
    block = MultiHeadSelfAttention(16, n_heads=2).eval()
    x = torch.zeros(1, 16, 4, 4)  # identical content everywhere: only P can make rows differ
    _, A = block(x)
    assert not torch.allclose(A[0, :, 0], A[0, :, 5])
    block.pe_scale = 0.0
    _, A = block(x)
    torch.testing.assert_close(A, torch.full_like(A, 1 / 16))


@pytest.mark.parametrize("depth", DEPTHS)
def test_receptive_field_matches_gradient_support(depth):
    """Union of |d logit / d input| > 0 over random inputs (max-pool routes to one pixel per input)."""
    torch.manual_seed(depth)
    size = {1: 32, 2: 64, 3: 128, 4: 256}[depth]  # just larger than the field
    model = UNet(depth=depth, base_channels=4).eval()
    for offset in (0, 2**depth - 1):
        c = size // 2 + offset
        x = torch.randn(4, 1, size, size, requires_grad=True)
        model(x)[:, 1, c, c].sum().backward()
        support = x.grad.abs().sum((0, 1)) > 0
        rows = support.any(1).nonzero().flatten() - c
        cols = support.any(0).nonzero().flatten() - c
        expected = _decoder_interval(0, depth, offset, offset)
        expected = (expected[0] - offset, expected[1] - offset)
        assert (rows.min().item(), rows.max().item()) == expected
        assert (cols.min().item(), cols.max().item()) == expected
    assert model.receptive_field == theoretical_receptive_field(depth)
    assert theoretical_receptive_field(depth) >= expected[1] - expected[0] + 1


def test_receptive_field_grows_with_depth_and_is_exposed():
    fields = [theoretical_receptive_field(d) for d in DEPTHS]
    assert fields == sorted(fields) and fields[1] == 52
    assert UTransformer(depth=2).receptive_field == 52


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


def test_unet_parameter_count_is_the_documented_backbone():
    assert sum(p.numel() for p in UNet().parameters()) == 118_322
    assert math.isclose(sum(p.numel() for p in UTransformer().parameters()) / 118_322, 1.23, abs_tol=0.02)
