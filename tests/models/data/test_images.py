"""Uploads: PNG and JPEG decoded to a grey image in [0, 1], what was changed said, bad files refused."""

import io
import re

import numpy as np
import pytest
from PIL import Image

from models.data.ct_slices import SegmentationTask, generate_sample
from models.data.images import MAX_UPLOAD_BYTES, load_grayscale_image, reduced

IMAGE = generate_sample(SegmentationTask(), 0, 0).image


def _png(array: np.ndarray, mode: str) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array, mode=mode).save(buffer, format="PNG")
    return buffer.getvalue()


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


@pytest.mark.parametrize(
    "data",
    [b"definitely not an image", b"\x89PNG\r\n\x1a\n" + b"\0" * 100, _png(np.zeros((5000, 4000), dtype=bool), "1")],
)
def test_messages_speak_the_users_language(data):
    with pytest.raises(ValueError) as caught:
        load_grayscale_image(data)
    message = str(caught.value)
    assert "BytesIO" not in message and not re.search(r"0x[0-9a-f]{6,}", message) and "bomb" not in message.lower()


def test_a_non_square_upload_says_it_was_stretched():
    _, notes = load_grayscale_image(_png(np.tile(np.arange(90, dtype=np.uint8), (30, 1)), "L"), 64)
    assert any("stretched" in note and "90x30" in note for note in notes)
    _, notes = load_grayscale_image(_png(np.tile(np.arange(90, dtype=np.uint8), (90, 1)), "L"), 64)
    assert not any("stretched" in note for note in notes)


@pytest.mark.parametrize("mode", ["L", "RGBA", "I;16", "P"])
def test_a_large_upload_is_shrunk_before_conversion_and_keeps_its_content(mode):
    """A 2048x2048 image is box-reduced to 512 px before its copies are made; a left-dark, right-bright image
    still decodes to a left-dark, right-bright 64x64 input, and the note names the original size."""
    side = 2048
    image = np.zeros((side, side), np.uint8)
    image[:, side // 2 :] = 200
    picture = Image.fromarray(image, "L")
    picture = picture.convert(mode) if mode != "I;16" else Image.fromarray(image.astype(np.uint16) * 256)
    buffer = io.BytesIO()
    picture.save(buffer, "PNG")
    gray, notes = load_grayscale_image(buffer.getvalue())
    assert gray.shape == (64, 64)
    assert (gray[:, :31] == 0).all() and (gray[:, 33:] == 1).all()
    assert any("resized from 2048x2048 to 64x64" in note for note in notes)
    assert reduced(picture).size == (512, 512)


def test_a_png_is_limited_to_2048_px_a_side_and_a_jpeg_to_4096_which_decodes_at_a_reduced_scale():
    big = Image.new("L", (4096, 4096))
    big.paste(255, (2048, 0, 4096, 4096))
    for kind, accepted in (("PNG", False), ("JPEG", True)):
        buffer = io.BytesIO()
        big.save(buffer, kind)
        if accepted:
            gray, notes = load_grayscale_image(buffer.getvalue())
            assert gray[:, :28].max() < 0.1 and gray[:, 36:].min() > 0.9
            assert any("resized from 4096x4096" in note for note in notes)
        else:
            with pytest.raises(ValueError, match="4096x4096 px; the limit for a PNG is 2048x2048 px"):
                load_grayscale_image(buffer.getvalue())


def test_the_largest_accepted_upload_adds_at_most_tens_of_mb():
    """Peak RSS growth of decoding the largest accepted PNG (2048x2048 RGBA) and JPEG (4096x4096), each in a
    fresh process (the same measurement as ``make bench``)."""
    from bench.bench_segmentation import upload_peak_mb

    peaks = upload_peak_mb()["peak_rss_growth_mb"]
    assert len(peaks) == 2 and all(0 < peak <= 64 for peak in peaks.values()), peaks
