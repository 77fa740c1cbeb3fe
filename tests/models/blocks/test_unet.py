"""The U-Net backbone: its receptive field against a gradient measurement, and where it is exposed."""

import pytest
import torch

from models.blocks.unet import DEPTHS, UNet, _decoder_interval, theoretical_receptive_field


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


def test_receptive_field_grows_with_depth():
    fields = [theoretical_receptive_field(d) for d in DEPTHS]
    assert fields == [20, 52, 116, 236]
    with pytest.raises(ValueError, match="depth"):
        theoretical_receptive_field(5)
