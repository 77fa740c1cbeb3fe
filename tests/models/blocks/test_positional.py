"""The lecture's sinusoidal PE against its closed form, and the properties of K = P P^T."""

import math

import pytest
import torch

from models.blocks.positional import (
    LearnedPositionalEmbedding,
    SinusoidalPositionalEncoding,
    offset_profile,
    offset_similarity,
    positional_similarity,
    sinusoidal_encoding,
    sinusoidal_encoding_2d,
)


@pytest.mark.parametrize(
    ("t", "i", "d_model", "base"),
    [(0, 0, 8, 1e4), (7, 2, 8, 1e4), (49, 127, 128, 1e4), (13, 6, 16, 100.0), (1000, 511, 512, 1e4)],
)
def test_entries_match_the_lecture_formula(t, i, d_model, base):
    k = i // 2
    omega = 1.0 / base ** (2 * k / d_model)
    expected = math.sin(omega * t) if i % 2 == 0 else math.cos(omega * t)
    P = sinusoidal_encoding(t + 1, d_model, base)
    assert P.shape == (t + 1, d_model)
    assert P[t, i].item() == pytest.approx(expected, abs=1e-6)


def test_values_lie_in_unit_interval():
    P = sinusoidal_encoding(2048, 1024)
    assert P.abs().max() <= 1.0


def test_similarity_is_symmetric_with_d_over_two_on_the_diagonal():
    d_model = 128
    K = positional_similarity(sinusoidal_encoding(50, d_model, dtype=torch.float64))
    torch.testing.assert_close(K, K.T)
    torch.testing.assert_close(K.diagonal(), torch.full((50,), d_model / 2, dtype=torch.float64))


def test_similarity_depends_on_the_offset_only():
    K = positional_similarity(sinusoidal_encoding(300, 64, dtype=torch.float64))
    profiles = torch.stack([offset_profile(K, start, 100) for start in (0, 37, 150, 199)])
    torch.testing.assert_close(profiles, profiles[:1].expand_as(profiles), atol=1e-9, rtol=0)
    torch.testing.assert_close(profiles[0], offset_similarity(torch.arange(101), 64), atol=1e-9, rtol=0)


def test_different_positions_get_different_vectors():
    P = sinusoidal_encoding(512, 64)
    distances = torch.cdist(P, P) + torch.eye(512)
    assert distances.min() > 1e-2


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"length": 0, "d_model": 8}, "length"),
        ({"length": 10, "d_model": 7}, "multiple of 2"),
        ({"length": 10, "d_model": 8, "base": 0.0}, "base"),
        ({"length": 10, "d_model": 8, "base": -3.0}, "base"),
        ({"length": 10, "d_model": 8, "base": float("nan")}, "base"),
        ({"length": 2.5, "d_model": 8}, "integer"),
    ],
)
def test_bad_arguments_raise_a_clear_value_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        sinusoidal_encoding(**kwargs)


def test_2d_encoding_splits_channels_between_x_and_y():
    P2 = sinusoidal_encoding_2d(6, 10, 16)
    assert P2.shape == (16, 6, 10)
    along_x, along_y = sinusoidal_encoding(10, 8), sinusoidal_encoding(6, 8)
    torch.testing.assert_close(P2[:8, 3, :], along_x.T)  # the x half varies along columns only
    torch.testing.assert_close(P2[8:, :, 4], along_y.T)  # the y half varies along rows only
    with pytest.raises(ValueError, match="multiple of 4"):
        sinusoidal_encoding_2d(4, 4, 6)


def test_modules_add_their_encoding():
    x = torch.randn(2, 12, 16)
    fixed = SinusoidalPositionalEncoding(max_len=20, d_model=16)
    torch.testing.assert_close(fixed(x), x + sinusoidal_encoding(12, 16))
    learned = LearnedPositionalEmbedding(max_len=20, d_model=16)
    torch.testing.assert_close(learned(x), x + learned.table[:12])
    learned(x).sum().backward()
    assert learned.table.grad[:12].abs().sum() > 0 and learned.table.grad[12:].abs().sum() == 0
    with pytest.raises(ValueError, match="sequence length"):
        fixed(torch.randn(1, 21, 16))
