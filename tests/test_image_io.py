import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sam3.image_io import ImageLoadError, downscale_to_limit, load_image

RED, BLUE, WHITE = (255, 0, 0), (0, 0, 255), (255, 255, 255)


def png_header_only(width, height):
    """A PNG that claims a size but has no pixel data: tests size checks without allocating the image."""

    def chunk(kind, payload):
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


def save(img, path, **kwargs):
    img.save(path, **kwargs)
    return path


def two_colour(width, height, left=RED, right=BLUE):
    img = Image.new("RGB", (width, height), left)
    img.paste(right, (width // 2, 0, width, height))
    return img


def assert_close(pixel, expected, tol=8):
    assert all(abs(a - b) <= tol for a, b in zip(pixel, expected, strict=True)), (pixel, expected)


# --- sources -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["str", "path", "bytes", "bytearray", "pil", "array"])
def test_every_source_kind_gives_the_same_rgb_image(tmp_path, kind):
    img = two_colour(32, 16)
    path = save(img, tmp_path / "img.png")
    source = {
        "str": str(path),
        "path": path,
        "bytes": path.read_bytes(),
        "bytearray": bytearray(path.read_bytes()),
        "pil": Image.open(path),
        "array": np.asarray(img),
    }[kind]
    out = load_image(source)
    assert out.mode == "RGB" and out.size == (32, 16)
    np.testing.assert_array_equal(np.asarray(out), np.asarray(img))


def test_pil_input_is_not_returned_or_changed():
    img = Image.new("RGBA", (16, 16), (0, 0, 0, 0))
    out = load_image(img)
    assert out is not img and img.mode == "RGBA" and out.getpixel((0, 0)) == WHITE


@pytest.mark.parametrize(
    ("array", "expected"),
    [
        (np.full((8, 8), 200, np.uint8), (200, 200, 200)),
        (np.full((8, 8, 1), 200, np.uint8), (200, 200, 200)),
        (np.full((8, 8), 65535, np.uint16), WHITE),
        (np.full((8, 8), 32896, np.uint16), (128, 128, 128)),
        (np.full((8, 8, 3), [65535, 0, 257], np.uint16), (255, 0, 1)),
        (np.ones((8, 8), bool), WHITE),
        (np.full((8, 8, 3), [1.0, 0.0, 0.5], np.float32), (255, 0, 128)),
        (np.full((8, 8, 4), [0, 0, 0, 0], np.uint8), WHITE),
        (np.full((8, 8, 4), [255, 0, 0, 255], np.uint8), RED),
    ],
)
def test_array_conversion(array, expected):
    out = load_image(array)
    assert out.mode == "RGB" and out.size == (8, 8)
    assert out.getpixel((3, 3)) == expected


@pytest.mark.parametrize(
    ("array", "match"),
    [
        (np.zeros((8, 8, 2), np.uint8), r"array must have shape"),
        (np.zeros(64, np.uint8), r"array must have shape"),
        (np.full((8, 8), 1.5, np.float32), r"float image values must be finite and in \[0, 1\]"),
        (np.full((8, 8), np.nan, np.float32), r"float image values must be finite"),
        (np.zeros((8, 8), np.int64), "unsupported array dtype int64"),
        (np.zeros((4, 8), np.uint8), r"image is too small: 8x4 \(minimum 8x8\)"),
    ],
)
def test_bad_arrays(array, match):
    with pytest.raises(ImageLoadError, match=match):
        load_image(array)


# --- formats -----------------------------------------------------------------------------------------------


def test_cmyk_jpeg(tmp_path):
    path = save(Image.new("CMYK", (16, 16), (0, 255, 255, 0)), tmp_path / "cmyk.jpg")
    assert Image.open(path).mode == "CMYK"
    out = load_image(path)
    assert out.mode == "RGB"
    assert_close(out.getpixel((8, 8)), RED)


def test_16_bit_png_is_scaled_not_clipped(tmp_path):
    values = np.array([[0, 32896, 65535, 1000]], np.uint16).repeat(8, axis=0).repeat(4, axis=1)
    path = save(Image.fromarray(values), tmp_path / "deep.png")
    assert Image.open(path).mode.startswith("I")
    out = np.asarray(load_image(path))
    np.testing.assert_array_equal(out[0, ::4, 0], [0, 128, 255, 4])
    assert (out[..., 0] == out[..., 2]).all()


def test_32_bit_integer_mode_is_treated_as_16_bit():
    img = Image.fromarray(np.array([[0, 65535, 70000, -5]], np.int32).repeat(8, axis=0).repeat(2, axis=1))
    assert img.mode == "I"
    np.testing.assert_array_equal(np.asarray(load_image(img))[0, ::2, 0], [0, 255, 255, 0])


def test_palette_png_with_transparency_is_composited_on_white(tmp_path):
    img = Image.new("P", (16, 16), 0)
    img.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    img.paste(1, (8, 0, 16, 16))
    path = save(img, tmp_path / "palette.png", transparency=0)
    out = load_image(path)
    assert out.getpixel((2, 2)) == WHITE  # transparent black
    assert out.getpixel((12, 2)) == RED


@pytest.mark.parametrize(
    ("mode", "colour", "expected"),
    [
        ("RGBA", (0, 0, 0, 0), WHITE),
        ("RGBA", (0, 0, 0, 255), (0, 0, 0)),
        ("RGBA", (0, 0, 0, 128), (127, 127, 127)),
        ("LA", (0, 0), WHITE),
        ("LA", (50, 255), (50, 50, 50)),
        ("L", 50, (50, 50, 50)),
        ("1", 1, WHITE),
    ],
)
def test_modes_with_and_without_alpha(tmp_path, mode, colour, expected):
    path = save(Image.new(mode, (8, 8), colour), tmp_path / "img.png")
    out = load_image(path)
    assert out.mode == "RGB"
    assert_close(out.getpixel((4, 4)), expected, tol=1)


@pytest.mark.parametrize(
    ("orientation", "size", "red_at", "blue_at"),
    [
        (1, (40, 20), (5, 10), (35, 10)),
        (3, (40, 20), (35, 10), (5, 10)),  # rotated 180: red ends up on the right
        (6, (20, 40), (10, 5), (10, 35)),  # rotate 90 clockwise: the stored left edge becomes the top
        (8, (20, 40), (10, 35), (10, 5)),  # rotate 90 counter-clockwise: the stored left edge becomes the bottom
    ],
)
def test_exif_orientation_is_applied(tmp_path, orientation, size, red_at, blue_at):
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = save(two_colour(40, 20), tmp_path / "phone.jpg", exif=exif, quality=95)
    out = load_image(path)
    assert out.size == size
    assert_close(out.getpixel(red_at), RED)
    assert_close(out.getpixel(blue_at), BLUE)


def test_animated_gif_gives_first_frame(tmp_path):
    frames = [Image.new("RGB", (16, 16), c) for c in (RED, BLUE)]
    path = save(frames[0], tmp_path / "anim.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
    assert Image.open(path).n_frames == 2
    out = load_image(path)
    assert out.mode == "RGB" and out.getpixel((8, 8)) == RED


# --- failures ----------------------------------------------------------------------------------------------


def truncated_jpeg(tmp_path):
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)).save(buffer, "JPEG")
    path = tmp_path / "cut.jpg"
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    return path


def write(name, content):
    def make(tmp_path):
        path = tmp_path / name
        path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content)
        return path

    return make


@pytest.mark.parametrize(
    ("make_source", "max_pixels", "match"),
    [
        (write("foo.jpg", "hello, not a picture"), 100_000_000, r"^not an image: .*foo\.jpg$"),
        (write("empty.png", b""), 100_000_000, r"^not an image: .*empty\.png$"),
        (lambda tmp_path: b"", 100_000_000, r"^not an image: <bytes> is empty$"),
        (lambda tmp_path: b"GIF89a garbage", 100_000_000, r"^not an image: <bytes>$"),
        (truncated_jpeg, 100_000_000, r"^image is corrupt or truncated: .*cut\.jpg$"),
        (write("nodata.png", png_header_only(64, 64)), 100_000_000, r"^image is corrupt or truncated: "),
        (lambda tmp_path: save(Image.new("RGB", (1, 1)), tmp_path / "dot.png"), 100_000_000,
         r"^image is too small: 1x1 \(minimum 8x8\)$"),
        (lambda tmp_path: save(Image.new("RGB", (100, 7)), tmp_path / "strip.png"), 100_000_000,
         r"^image is too small: 100x7 \(minimum 8x8\)$"),
        (lambda tmp_path: tmp_path / "missing.png", 100_000_000, r"^file not found: .*missing\.png$"),
        (lambda tmp_path: tmp_path, 100_000_000, r"^not a file: "),
        (lambda tmp_path: 42, 100_000_000, r"^cannot load an image from a int$"),
        # header-only files: refusing them must not need the pixels (a 30000x30000 RGB would be 2.7 GB)
        (write("bomb.png", png_header_only(30000, 30000)), 100_000_000,
         r"^image is too large: over 179 MP \(Pillow's decompression-bomb limit\): .*bomb\.png$"),
        (write("big.png", png_header_only(12000, 9000)), 100_000_000,
         r"^image is too large: 12000x9000 \(108 MP > 100 MP limit\)$"),
        (lambda tmp_path: save(Image.new("RGB", (64, 64)), tmp_path / "ok.png"), 1000,
         r"^image is too large: 64x64 \(0.0041 MP > 0.001 MP limit\)$"),
        (lambda tmp_path: np.zeros((64, 64, 3), np.uint8), 1000, r"^image is too large: 64x64 "),
    ],
)
@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_failures_raise_image_load_error(tmp_path, make_source, max_pixels, match):
    with pytest.raises(ImageLoadError, match=match) as info:
        load_image(make_source(tmp_path), max_pixels=max_pixels)
    assert isinstance(info.value, ValueError)


def test_size_limit_can_be_lifted(tmp_path):
    path = save(Image.new("RGB", (64, 64)), tmp_path / "ok.png")
    assert load_image(path, max_pixels=None).size == (64, 64)
    assert load_image(path, max_pixels=64 * 64).size == (64, 64)


# --- downscale ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "max_side", "expected_size", "expected_scale"),
    [
        ((400, 300), 100, (100, 75), 0.25),
        ((300, 400), 100, (75, 100), 0.25),
        ((1000, 3), 100, (100, 1), 0.1),
        ((400, 300), 400, (400, 300), 1.0),
        ((400, 300), 1000, (400, 300), 1.0),
    ],
)
def test_downscale_to_limit(size, max_side, expected_size, expected_scale):
    img = Image.new("RGB", size, RED)
    out, scale = downscale_to_limit(img, max_side)
    assert out.size == expected_size and scale == pytest.approx(expected_scale)
    assert (out is img) == (scale == 1.0)
    assert_close(out.getpixel((0, 0)), RED, tol=1)


@pytest.mark.parametrize("max_side", [0, -5])
def test_downscale_rejects_bad_limit(max_side):
    with pytest.raises(ValueError, match="max_side must be >= 1"):
        downscale_to_limit(Image.new("RGB", (8, 8)), max_side)


def test_result_does_not_keep_the_file_open(tmp_path):
    path = save(two_colour(32, 16), tmp_path / "img.png")
    out = load_image(path)
    Path(path).unlink()
    assert out.getpixel((0, 0)) == RED
