"""Images a user uploads, decoded safely: type, size and pixel count checked before the pixels are read."""

from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image, UnidentifiedImageError

MAX_UPLOAD_BYTES = 5 * 1024 * 1024
# A PNG is decoded whole (2048x2048 RGBA: 16 MB), a JPEG at 1/2 to 1/8 scale: the largest upload adds tens of MB
MAX_UPLOAD_SIDE = {"PNG": 2048, "JPEG": 4096}
WORKING_SIDE = 512  # px: a decoded image is shrunk to about this before any copy is made


def reduced(picture: Image.Image) -> Image.Image:
    """``picture`` box-averaged by an integer factor so its shorter side is about :data:`WORKING_SIDE`, before the
    colour conversions copy it (a 4096x4096 RGBA image would otherwise cost several copies of 64 MB)."""
    factor = min(picture.size) // WORKING_SIDE
    if factor < 2:
        return picture
    if picture.mode.startswith("I;16"):  # 16-bit grayscale keeps its precision
        picture = picture.convert("I")
    elif picture.mode not in ("L", "LA", "RGB", "RGBA", "I", "F"):  # palette and 1-bit images
        picture = picture.convert("RGBA" if "transparency" in picture.info else "L")
    return picture.reduce(factor)


def load_grayscale_image(data: bytes, size: int = 64) -> tuple[np.ndarray, list[str]]:
    """Decode an uploaded PNG/JPEG to a ``(size, size)`` float image in [0, 1]; returns it and what was changed.

    Refuses what is not a PNG/JPEG, larger than 5 MB, or over 2048x2048 px (PNG) or 4096x4096 px (JPEG, which
    is decoded at a reduced scale); converts colour and alpha
    (composited on black) to grayscale; resizes to ``size`` (the model's input side).
    """
    if len(data) > MAX_UPLOAD_BYTES:
        raise ValueError(f"the file is {len(data) / 1e6:.1f} MB; the limit is {MAX_UPLOAD_BYTES / 1e6:.0f} MB")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            picture = Image.open(io.BytesIO(data))
            if picture.format not in MAX_UPLOAD_SIDE:
                raise ValueError(f"the file is a {picture.format} image; upload a PNG or JPEG")
            side = MAX_UPLOAD_SIDE[picture.format]
            if picture.width * picture.height > side * side:
                raise ValueError(
                    f"the image is {picture.width}x{picture.height} px; the limit for a {picture.format} is "
                    f"{side}x{side} px"
                )
            original = picture.size
            picture.draft(picture.mode, (WORKING_SIDE, WORKING_SIDE))  # a JPEG is decoded at 1/2 to 1/8 scale
            picture.load()
            picture = reduced(picture)
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise ValueError("the image has too many pixels; the limit is 2048x2048 px for a PNG") from None
    except (UnidentifiedImageError, OSError, SyntaxError):
        raise ValueError(
            "the file is not a readable PNG or JPEG image (it may be damaged or of another type)"
        ) from None
    notes = []
    if picture.mode in ("RGBA", "LA", "PA") or "transparency" in picture.info:
        rgba = picture.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        picture = Image.alpha_composite(background, rgba)
        notes.append("transparent pixels composited on black")
    if picture.mode not in ("L", "I;16", "I", "F"):
        notes.append(f"{picture.mode} converted to grayscale")
    gray = np.asarray(picture.convert("F"), dtype=np.float64)
    if original != (size, size):
        stretched = ", stretched: its sides were not equal" if original[0] != original[1] else ""
        notes.append(f"resized from {original[0]}x{original[1]} to {size}x{size}{stretched}")
        gray = np.asarray(Image.fromarray(gray.astype(np.float32), mode="F").resize((size, size), Image.BILINEAR))
    low, high = float(gray.min()), float(gray.max())
    if high - low < 1e-6:
        raise ValueError("the image is a single flat colour; there is nothing to segment")
    return ((gray - low) / (high - low)).astype(np.float32), notes
