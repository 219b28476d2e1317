"""The one way the CLI and the app turn user input into an RGB image.

Users hand us phone photos (EXIF-rotated), scans (CMYK, 16-bit), screenshots with transparency, GIFs, and
occasionally a renamed text file or a decompression bomb. Masks and boxes are returned in the pixels of the
image loaded here, so orientation must be applied once, here, and every failure must reach the user as one
readable sentence (``ImageLoadError``) instead of a Pillow traceback.
"""

from __future__ import annotations

import io
import os
import struct
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

# 100 MP covers any camera (a 108 MP phone sensor aside) while keeping SAM 3's preprocessing and the
# full-resolution masks (N x H x W bools) of one image within a few GB.
DEFAULT_MAX_PIXELS = 100_000_000
# Below this the model's 1008-pixel resize is mostly interpolation, and such files are usually icons or
# tracking pixels sent by mistake.
MIN_SIDE = 8

ImageSource = str | os.PathLike[str] | bytes | bytearray | memoryview | np.ndarray | Image.Image

_WHITE = (255, 255, 255, 255)
_HIGH_BIT_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I", "F"})
_ALPHA_MODES = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})
# What Pillow raises when pixel data is cut short or garbled; which one depends on the codec.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error)


class ImageLoadError(ValueError):
    """Raised for every input that cannot become an RGB image; its message is meant for end users."""


def _megapixels(pixels: int) -> str:
    return f"{pixels / 1e6:.3g}"


def _check_size(width: int, height: int, max_pixels: int | None) -> None:
    if max_pixels is not None and width * height > max_pixels:
        raise ImageLoadError(f"image is too large: {width}x{height} "
                             f"({_megapixels(width * height)} MP > {_megapixels(max_pixels)} MP limit)")
    if width < MIN_SIDE or height < MIN_SIDE:
        raise ImageLoadError(f"image is too small: {width}x{height} (minimum {MIN_SIDE}x{MIN_SIDE})")


def _array_to_image(array: np.ndarray) -> Image.Image:
    """8-bit PIL image from an RGB(A) or grey array; 16-bit and [0, 1] float content is rescaled, not clipped."""
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (3, 4))):
        raise ImageLoadError(f"array must have shape (H, W), (H, W, 3) or (H, W, 4), got {array.shape}")
    if array.dtype == bool:
        array = array.astype(np.uint8) * 255
    elif array.dtype == np.uint16:
        # round(v / 257) maps 0..65535 exactly onto 0..255, in integers to avoid a float copy of a big image.
        array = ((array.astype(np.uint32) + 128) // 257).astype(np.uint8)
    elif np.issubdtype(array.dtype, np.floating):
        if not (np.isfinite(array).all() and array.min() >= 0.0 and array.max() <= 1.0):
            raise ImageLoadError("float image values must be finite and in [0, 1]")
        array = np.rint(array * 255.0).astype(np.uint8)
    elif array.dtype != np.uint8:
        raise ImageLoadError(f"unsupported array dtype {array.dtype} (use uint8, uint16, bool or float in [0, 1])")
    return Image.fromarray(np.ascontiguousarray(array))


def _to_rgb(im: Image.Image) -> Image.Image:
    if im.mode in _HIGH_BIT_MODES:
        pixels = np.asarray(im)
        if im.mode == "I":
            # 32-bit integer mode is how Pillow hands over most 16-bit greyscale files.
            pixels = np.clip(pixels, 0, 65535).astype(np.uint16)
        im = _array_to_image(pixels)
    if im.mode in _ALPHA_MODES or "transparency" in im.info:
        # Transparent regions read as white, like a browser shows them, not as whatever colour they hide.
        rgba = im.convert("RGBA")
        return Image.alpha_composite(Image.new("RGBA", im.size, _WHITE), rgba).convert("RGB")
    if im.mode == "RGB":
        return im
    try:
        return im.convert("RGB")
    except ValueError:
        raise ImageLoadError(f"unsupported image mode: {im.mode}") from None


def _finish(im: Image.Image, name: str, max_pixels: int | None) -> Image.Image:
    """Check the header size before decoding, then decode, orient and convert to a fresh RGB image."""
    _check_size(*im.size, max_pixels)
    try:
        im.load()
        # Always returns a copy, so the result never depends on the (possibly closed) source file.
        oriented = ImageOps.exif_transpose(im)
    except _DECODE_ERRORS:
        raise ImageLoadError(f"image is corrupt or truncated: {name}") from None
    return _to_rgb(oriented)


def _open(fp: Path | io.BytesIO, name: str, max_pixels: int | None) -> Image.Image:
    try:
        im = Image.open(fp)
    except UnidentifiedImageError:
        raise ImageLoadError(f"not an image: {name}") from None
    except Image.DecompressionBombError:
        # Pillow refuses before we see the size; its own guard sits at twice Image.MAX_IMAGE_PIXELS.
        limit = 2 * (Image.MAX_IMAGE_PIXELS or 0)
        raise ImageLoadError(f"image is too large: over {_megapixels(limit)} MP "
                             f"(Pillow's decompression-bomb limit): {name}") from None
    except OSError as error:
        if error.errno is None:  # raised by a decoder (e.g. a header cut short), not by the file system
            raise ImageLoadError(f"image is corrupt or truncated: {name}") from None
        raise ImageLoadError(f"cannot read file: {name} ({error.strerror or error})") from None
    # Opening leaves an animated GIF/WebP/APNG on its first frame, which is the frame we segment.
    with im:
        return _finish(im, name, max_pixels)


def load_image(source: ImageSource, *, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Load ``source`` as an upright 8-bit RGB image, or raise ``ImageLoadError`` saying why not.

    Arrays are taken as RGB(A) (convert OpenCV's BGR first). ``max_pixels=None`` lifts our limit, but
    Pillow's global ``Image.MAX_IMAGE_PIXELS`` guard still refuses files beyond twice its value.
    """
    if isinstance(source, Image.Image):
        return _finish(source, "<PIL image>", max_pixels)
    if isinstance(source, np.ndarray):
        if source.ndim in (2, 3):
            _check_size(source.shape[1], source.shape[0], max_pixels)
        return _to_rgb(_array_to_image(source))
    if isinstance(source, (bytes, bytearray, memoryview)):
        if not len(source):
            raise ImageLoadError("not an image: <bytes> is empty")
        return _open(io.BytesIO(bytes(source)), "<bytes>", max_pixels)
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.exists():
            raise ImageLoadError(f"file not found: {os.fspath(source)}")
        if not path.is_file():
            raise ImageLoadError(f"not a file: {os.fspath(source)}")
        return _open(path, os.fspath(source), max_pixels)
    raise ImageLoadError(f"cannot load an image from a {type(source).__name__}")


def check_image_file(path: str | os.PathLike[str], *, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> tuple[int, int]:
    """(width, height) from the file's header, after checking it is an image within ``max_pixels``: nothing is
    decoded, so a decompression bomb costs a header read. Raises ``ImageLoadError`` like ``load_image``."""
    path = Path(path)
    if not path.is_file():
        raise ImageLoadError(f"file not found: {os.fspath(path)}")
    try:
        with Image.open(path) as im:
            size = im.size
    except UnidentifiedImageError:
        raise ImageLoadError(f"not an image: {os.fspath(path)}") from None
    except Image.DecompressionBombError:
        raise ImageLoadError(f"image is too large (Pillow's decompression-bomb limit): {os.fspath(path)}") from None
    except (OSError, SyntaxError, ValueError, struct.error):
        raise ImageLoadError(f"image is corrupt or truncated: {os.fspath(path)}") from None
    _check_size(*size, max_pixels)
    return size


def downscale_to_limit(img: Image.Image, max_side: int) -> tuple[Image.Image, float]:
    """Shrink so the longer side is at most ``max_side``; the scale lets the app map results back and say so.

    Returns ``(img, 1.0)`` unchanged when it already fits.
    """
    if max_side < 1:
        raise ValueError(f"max_side must be >= 1, got {max_side}")
    width, height = img.size
    longest = max(width, height)
    if longest <= max_side:
        return img, 1.0
    scale = max_side / longest
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    # reducing_gap first box-reduces by an integer factor, which is what makes 100 MP inputs fast.
    return img.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0), scale
