import io

import numpy as np
import pytest
import torch
from PIL import Image

from models.segmentation import SegmentationTrace, UNet, UTransformer, _decoder_interval
from models.segmentation_analysis import (
    MAX_UPLOAD_BYTES,
    analyse,
    effective_receptive_field,
    gate_maps,
    load_grayscale_image,
    pixel_attention,
)
from models.segmentation_data import SegmentationTask, generate_sample

IMAGE = generate_sample(SegmentationTask(), 0, 0).image


def _png(array: np.ndarray, mode: str) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array, mode=mode).save(buffer, format="PNG")
    return buffer.getvalue()


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
    trace = SegmentationTrace(bottleneck_attention=A, bottleneck_shape=(4, 4))
    maps = pixel_attention(trace, row=20, col=40, size=(64, 64))  # pixel (20, 40) lies in cell (1, 2)
    assert maps.shape == (2, 64, 64)
    assert np.unravel_index(maps[0].argmax(), maps[0].shape)[0] // 16 == 3
    assert np.unravel_index(maps[0].argmax(), maps[0].shape)[1] // 16 == 0
    assert maps[1][:16, :16].mean() > maps[1][16:, 16:].mean()
    with pytest.raises(ValueError, match="outside"):
        pixel_attention(trace, 64, 0, (64, 64))
    with pytest.raises(ValueError, match="no bottleneck attention"):
        pixel_attention(SegmentationTrace(), 0, 0, (64, 64))


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


def test_upload_converts_colour_alpha_and_size():
    rgba = np.zeros((100, 80, 4), dtype=np.uint8)
    rgba[..., 0] = np.arange(80, dtype=np.uint8)[None, :]
    rgba[..., 3] = 255
    rgba[:10, :, 3] = 0
    image, notes = load_grayscale_image(_png(rgba, "RGBA"), 64)
    assert image.shape == (64, 64) and image.dtype == np.float32
    assert image.min() == 0.0 and image.max() == pytest.approx(1.0)
    assert any("transparent" in n for n in notes) and any("resized from 80x100" in n for n in notes)
    gray, notes = load_grayscale_image(_png((IMAGE * 255).astype(np.uint8), "L"), 64)
    assert notes == [] and np.abs(gray - (IMAGE - IMAGE.min()) / np.ptp(IMAGE)).max() < 0.02


def test_upload_accepts_jpeg_colour():
    buffer = io.BytesIO()
    Image.fromarray((np.random.default_rng(0).random((40, 40, 3)) * 255).astype(np.uint8)).save(buffer, "JPEG")
    image, notes = load_grayscale_image(buffer.getvalue(), 64)
    assert image.shape == (64, 64) and any("grayscale" in n for n in notes)


@pytest.mark.parametrize(
    "data, message",
    [
        (b"definitely not an image", "not a readable"),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 100, "not a readable"),
        (b"0" * (MAX_UPLOAD_BYTES + 1), "limit"),
        (_png(np.full((8, 8), 7, dtype=np.uint8), "L"), "flat"),
    ],
)
def test_bad_uploads_raise_clear_errors(data, message):
    with pytest.raises(ValueError, match=message):
        load_grayscale_image(data)


def test_gif_and_huge_images_are_refused():
    buffer = io.BytesIO()
    Image.new("L", (8, 8)).save(buffer, "GIF")
    with pytest.raises(ValueError, match="PNG or JPEG"):
        load_grayscale_image(buffer.getvalue())
    buffer = io.BytesIO()
    Image.new("1", (5000, 4000)).save(buffer, "PNG")
    with pytest.raises(ValueError, match="limit"):
        load_grayscale_image(buffer.getvalue())
