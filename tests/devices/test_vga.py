"""The VGA text screen as a PNG: 640x400 (80x25 cells of 8x16), each cell's background in the
colour of attribute bits 4-6 and its glyph in that of bits 0-3, the palette of MACHINE.md."""
import pytest
from PIL import Image

from dbt.runtime.devices.vga import render_png

# The standard VGA text palette, as MACHINE.md lists it.
PALETTE = [0x000000, 0x0000AA, 0x00AA00, 0x00AAAA, 0xAA0000, 0xAA00AA, 0xAA5500, 0xAAAAAA,
           0x555555, 0x5555FF, 0x55FF55, 0x55FFFF, 0xFF5555, 0xFF55FF, 0xFFFF55, 0xFFFFFF]


def rgb(colour):
    return (colour >> 16, (colour >> 8) & 0xFF, colour & 0xFF)


def screen(cells):
    """4000 bytes of text buffer: blank light grey on black, except {(row, col): (char, attr)}."""
    buf = bytearray(b" \x07" * 2000)
    for (row, col), (char, attr) in cells.items():
        buf[2 * (row * 80 + col)] = char
        buf[2 * (row * 80 + col) + 1] = attr
    return bytes(buf)


def cell_pixels(image, row, col):
    return [image.getpixel((col * 8 + x, row * 16 + y)) for y in range(16) for x in range(8)]


@pytest.fixture
def render(tmp_path):
    def draw(cells):
        path = tmp_path / "screen.png"
        render_png(screen(cells), str(path))
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        image = Image.open(path)
        assert image.size == (640, 400)
        return image.convert("RGB")
    return draw


def test_backgrounds_of_blank_cells(render):
    cells = {(row, col): (ord(" "), (row % 8) << 4 | col % 16) for row in range(25) for col in (0, 40, 79)}
    image = render(cells)
    for (row, col), (_, attr) in cells.items():
        assert set(cell_pixels(image, row, col)) == {rgb(PALETTE[attr >> 4])}


def test_glyph_in_foreground_over_background(render):
    cells = {(3, 7): (ord("A"), 0x1E), (24, 79): (ord("#"), 0x4F), (0, 0): (ord("g"), 0x02)}
    image = render(cells)
    for (row, col), (_, attr) in cells.items():
        pixels = cell_pixels(image, row, col)
        fg, bg = rgb(PALETTE[attr & 0x0F]), rgb(PALETTE[attr >> 4])
        assert set(pixels) == {fg, bg}
        assert 5 <= pixels.count(fg) <= 64                   # a glyph, not a filled cell


def test_every_foreground_colour_exact(render):
    cells = {(10, col): (0xDB, col) for col in range(16)}  # full block: all foreground
    image = render(cells)
    for col in range(16):
        assert set(cell_pixels(image, 10, col)) == {rgb(PALETTE[col])}


def test_blink_bit_is_not_background(render):
    image = render({(5, 5): (0xDB, 0xF4), (5, 6): (ord(" "), 0xF4)})
    assert set(cell_pixels(image, 5, 5)) == {rgb(PALETTE[4])}
    assert set(cell_pixels(image, 5, 6)) == {rgb(PALETTE[7])}   # bits 4-6 only


def test_neighbours_do_not_bleed(render):
    image = render({(12, 40): (0xDB, 0x0C)})
    for row, col in ((11, 40), (13, 40), (12, 39), (12, 41)):
        assert set(cell_pixels(image, row, col)) == {(0, 0, 0)}


def test_box_drawing_and_shades_have_foreground(render):
    cells = {(1, col): (char, 0x0A) for col, char in enumerate((0xB0, 0xB1, 0xB2, 0xC4, 0xB3, 0xC9, 0xCE))}
    image = render(cells)
    for (row, col), _ in cells.items():
        assert rgb(PALETTE[0x0A]) in cell_pixels(image, row, col)


def test_short_buffer_is_refused(tmp_path):
    with pytest.raises(ValueError, match="4000"):
        render_png(b"\0" * 100, str(tmp_path / "x.png"))
