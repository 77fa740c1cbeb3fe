"""What the segmentation page shows: one model on one image, attention per pixel, gates, the effective
receptive field against autograd, and scores on the validation set."""

import numpy as np
import pytest
import torch

from models.blocks.unet import UNet, UNetTrace, _decoder_interval
from models.labs.segmentation.analysis import (
    analyse,
    cost,
    effective_receptive_field,
    evaluate,
    gate_maps,
    key_attention,
    pixel_attention,
)
from models.labs.segmentation.models import UTransformer
from models.labs.segmentation.tasks import LabTask

IMAGE = LabTask().sample(0, seed=0).image


def test_analyse_returns_probability_prediction_and_trace():
    result = analyse(UTransformer().eval(), IMAGE)
    assert result.probability.shape == (64, 64) and result.prediction.shape == (64, 64)
    assert ((result.probability >= 0) & (result.probability <= 1)).all()
    np.testing.assert_array_equal(result.prediction, (result.probability > 0.5).astype(result.prediction.dtype))
    assert result.trace.bottleneck_attention.shape == (1, 4, 256, 256)


def test_pixel_attention_reads_the_row_of_the_pixels_bottleneck_cell():
    A = torch.zeros(1, 2, 16, 16)  # 4x4 bottleneck grid for a 64x64 image: cells of 16x16 px
    A[0, 0, 1 * 4 + 2, 3 * 4 + 0] = 1.0  # query cell (1, 2) attends to cell (3, 0) with head 0
    A[0, 1, 1 * 4 + 2, 0] = 1.0
    trace = UNetTrace(bottleneck_attention=A, bottleneck_shape=(4, 4))
    maps = pixel_attention(trace, row=20, col=40, size=(64, 64))  # pixel (20, 40) lies in cell (1, 2)
    assert maps.shape == (2, 64, 64)
    assert np.unravel_index(maps[0].argmax(), maps[0].shape)[0] // 16 == 3
    assert np.unravel_index(maps[0].argmax(), maps[0].shape)[1] // 16 == 0
    assert maps[1][:16, :16].mean() > maps[1][16:, 16:].mean()
    with pytest.raises(ValueError, match="outside"):
        pixel_attention(trace, 64, 0, (64, 64))
    with pytest.raises(ValueError, match="no attention"):
        pixel_attention(UNetTrace(), 0, 0, (64, 64))


def test_gate_maps_average_channels_and_stay_in_unit_interval():
    gates = gate_maps(analyse(UTransformer(depth=3).eval(), IMAGE).trace)
    assert sorted(gates) == [1, 2] and gates[1].shape == (32, 32) and gates[2].shape == (16, 16)
    assert all(((g >= 0) & (g <= 1)).all() for g in gates.values())


def test_effective_receptive_field_is_the_autograd_gradient_inside_the_theoretical_field():
    torch.manual_seed(0)
    model = UNet(depth=1, base_channels=4).eval()
    row, col = 30, 33
    saliency = effective_receptive_field(model, IMAGE, row, col)
    x = torch.as_tensor(IMAGE)[None, None].requires_grad_(True)
    logits = model(x)
    (grad,) = torch.autograd.grad(logits[0, 1, row, col] - logits[0, 0, row, col], x)
    np.testing.assert_allclose(saliency, grad[0, 0].abs().numpy(), rtol=1e-5, atol=1e-8)
    lo_r, hi_r = _decoder_interval(0, 1, row % 2, row % 2)
    lo_c, hi_c = _decoder_interval(0, 1, col % 2, col % 2)
    outside = np.ones_like(saliency, dtype=bool)
    outside[row - row % 2 + lo_r : row - row % 2 + hi_r + 1, col - col % 2 + lo_c : col - col % 2 + hi_c + 1] = False
    assert (saliency[outside] == 0).all() and saliency.max() > 0


def test_evaluate_scores_dice_and_each_object_and_leaves_the_model_in_its_mode():
    model = UNet(base_channels=4).train()
    result = evaluate(model, LabTask(size=32), n_images=3)
    assert model.training
    assert result.dice_per_image.shape == (3,) and 0 <= result.dice <= 1
    assert result.distances.shape == result.correct.shape == (12,)  # four blobs per image


def test_evaluate_on_mri_scores_three_classes_and_has_no_objects():
    result = evaluate(UNet(num_classes=3, base_channels=4), LabTask("mri", 32), n_images=100)
    assert result.dice_per_image.shape == (LabTask("mri", 32).n_validation,)  # at most the held-out slices
    assert result.distances.size == 0


class _FixedAttention(torch.nn.Module):
    """A stand-in model whose trace carries a given attention over a 4x4 grid."""

    def __init__(self, A):
        super().__init__()
        self.A, self.weight = A, torch.nn.Parameter(torch.zeros(1))

    def trace(self, x):
        return UNetTrace(
            output=None, bottleneck_attention=self.A.expand(x.shape[0], -1, -1, -1), bottleneck_shape=(4, 4)
        )


def test_key_attention_against_a_hand_count():
    """Image 0 at 32 px has its 4x4 key inside the 8x8 bottom-right cell (a quarter of it): a head that puts all
    weight there from every query has 0.25 / (0.25 / 16) = 16x uniform; a uniform head has 1x."""
    task = LabTask("striped", 32)
    assert task.sample(0).key_box == (27, 27, 31, 31)
    A = torch.zeros(1, 2, 16, 16)  # (1, heads, N, N) over a 4x4 grid
    A[0, 0, :, 15] = 1.0
    A[0, 1] = 1 / 16
    result = key_attention(_FixedAttention(A), task, n_images=1)
    np.testing.assert_allclose(result.per_head, [16.0, 1.0], rtol=1e-5)
    assert result.head_mean == pytest.approx(8.5) and result.best_head == pytest.approx(16.0)
    with pytest.raises(ValueError, match="long-range"):
        key_attention(_FixedAttention(A), LabTask("local", 32))


def test_cost_times_a_step_and_an_inference_and_counts_parameters():
    model = UNet(base_channels=4)
    spent = cost(model, LabTask(size=32), batch_size=2, repeats=1)
    assert spent.step_ms > 0 and spent.inference_ms > 0
    assert spent.parameters == sum(p.numel() for p in model.parameters())
