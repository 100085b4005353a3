"""The VGA text screen: 80x25 cells of (character, attribute) in guest RAM at 0xB8000, as a PNG.

`render_png` draws each cell 8x16 pixels (so the picture is 640x400): the
background in the colour of attribute bits 4-6, the glyph in that of bits
0-3, in the standard VGA text palette (MACHINE.md). Bit 7 (blink) is not
animated: blinking text is drawn visible. Characters are code page 437:
ASCII and Latin-1 lookalikes use Pillow's built-in bitmap font (6x11, placed
at (1, 2) in the cell); shades, blocks and box drawing (0xB0-0xDF, 0xFE) are
drawn by rule; other symbols fall back to their nearest Latin-1 letter or
'?'; control codes 0x00-0x1F are blank. The hardware cursor is not drawn.
"""
import functools
import unicodedata

COLUMNS, ROWS = 80, 25
CELL_W, CELL_H = 8, 16
WIDTH, HEIGHT = COLUMNS * CELL_W, ROWS * CELL_H
TEXT_BASE = 0xB8000
TEXT_BYTES = COLUMNS * ROWS * 2
GLYPH_X, GLYPH_Y = 1, 2

PALETTE = (
    (0x00, 0x00, 0x00), (0x00, 0x00, 0xAA), (0x00, 0xAA, 0x00), (0x00, 0xAA, 0xAA),
    (0xAA, 0x00, 0x00), (0xAA, 0x00, 0xAA), (0xAA, 0x55, 0x00), (0xAA, 0xAA, 0xAA),
    (0x55, 0x55, 0x55), (0x55, 0x55, 0xFF), (0x55, 0xFF, 0x55), (0x55, 0xFF, 0xFF),
    (0xFF, 0x55, 0x55), (0xFF, 0x55, 0xFF), (0xFF, 0xFF, 0x55), (0xFF, 0xFF, 0xFF),
)

# Box drawing: where each line of a single (1) or double (2) arm runs.
V_LINES = {1: (3,), 2: (2, 5)}          # columns of a vertical arm
H_LINES = {1: (7,), 2: (5, 9)}          # rows of a horizontal arm
AXES = {"VERTICAL": ("UP", "DOWN"), "HORIZONTAL": ("LEFT", "RIGHT")}
SHADE_RULES = {
    0xB0: lambda x, y: (x + 2 * (y % 2)) % 4 == 0,     # light shade, 25%
    0xB1: lambda x, y: (x + y) % 2 == 0,               # medium shade, 50%
    0xB2: lambda x, y: (x + 2 * (y % 2)) % 4 != 0,     # dark shade, 75%
    0xDB: lambda x, y: True,                           # full block
    0xDC: lambda x, y: y >= CELL_H // 2,               # lower half
    0xDD: lambda x, y: x < CELL_W // 2,                # left half
    0xDE: lambda x, y: x >= CELL_W // 2,               # right half
    0xDF: lambda x, y: y < CELL_H // 2,                # upper half
    0xFE: lambda x, y: 1 <= x <= 6 and 5 <= y <= 11,   # small square
}


def _rows_from_pixels(pixel) -> tuple[int, ...]:
    """16 row bitmaps (bit 7 = leftmost pixel) of a cell whose pixel(x, y) says on/off."""
    return tuple(sum(0x80 >> x for x in range(CELL_W) if pixel(x, y)) for y in range(CELL_H))


def _box_arms(name: str) -> dict[str, int] | None:
    """{'UP': weight, ...} from a Unicode box-drawing name, e.g. 'DOWN SINGLE AND RIGHT DOUBLE'."""
    if not name.startswith("BOX DRAWINGS "):
        return None
    words = name[len("BOX DRAWINGS "):].split()
    weights = {"LIGHT": 1, "SINGLE": 1, "DOUBLE": 2}
    overall = weights.get(words[0]) if words[0] in ("LIGHT", "DOUBLE") else None
    if overall is not None:
        words = words[1:]
    arms, current = {}, []
    for word in words + ["AND"]:
        if word != "AND":
            current.append(word)
            continue
        weight = overall if overall is not None else weights[current[-1]]
        direction = current[0]
        for arm in AXES.get(direction, (direction,)):
            arms[arm] = weight
        current = []
    return arms


def _box_glyph(arms: dict[str, int]) -> tuple[int, ...]:
    """Each arm's lines run from the cell edge to the line they meet: a double line's inner
    line stops at the near crossing line where an arm on its side turns off, its outer line at
    the far one (so corners and T joins stay open, as in the VGA font)."""
    h_rows = [y for arm in ("LEFT", "RIGHT") if arm in arms for y in H_LINES[arms[arm]]] or H_LINES[1]
    v_cols = [x for arm in ("UP", "DOWN") if arm in arms for x in V_LINES[arms[arm]]] or V_LINES[1]
    mid_x, mid_y = V_LINES[1][0], H_LINES[1][0]

    def near(position: int, mid: int, low_arm: str, high_arm: str, both: tuple[str, str]) -> bool:
        """Does this line turn off at the nearer crossing line?"""
        if position < mid:
            return low_arm in arms
        if position > mid:
            return high_arm in arms
        return all(arm in arms for arm in both)

    on = set()
    for arm, weight in arms.items():
        if arm in ("UP", "DOWN"):
            for x in V_LINES[weight]:
                inner = near(x, mid_x, "LEFT", "RIGHT", ("LEFT", "RIGHT"))
                if arm == "UP":
                    ys = range(0, (min(h_rows) if inner else max(h_rows)) + 1)
                else:
                    ys = range(max(h_rows) if inner else min(h_rows), CELL_H)
                on.update((x, y) for y in ys)
        else:
            for y in H_LINES[weight]:
                inner = near(y, mid_y, "UP", "DOWN", ("UP", "DOWN"))
                if arm == "LEFT":
                    xs = range(0, (min(v_cols) if inner else max(v_cols)) + 1)
                else:
                    xs = range(max(v_cols) if inner else min(v_cols), CELL_W)
                on.update((x, y) for x in xs)
    return _rows_from_pixels(lambda x, y: (x, y) in on)


def _font_glyph(font, char: str) -> tuple[int, ...]:
    mask = font.getmask(char)
    width, height = mask.size
    return _rows_from_pixels(lambda x, y: 0 <= x - GLYPH_X < width and 0 <= y - GLYPH_Y < height
                             and mask.getpixel((x - GLYPH_X, y - GLYPH_Y)) != 0)


@functools.cache
def glyphs() -> tuple[tuple[int, ...], ...]:
    """Row bitmaps of all 256 code page 437 characters (computed once)."""
    from PIL import ImageFont
    font = ImageFont.load_default_imagefont()
    table = []
    for code in range(256):
        char = bytes((code,)).decode("cp437")
        arms = _box_arms(unicodedata.name(char, ""))
        if code < 0x20:
            table.append((0,) * CELL_H)
        elif code in SHADE_RULES:
            table.append(_rows_from_pixels(SHADE_RULES[code]))
        elif arms:
            table.append(_box_glyph(arms))
        else:
            if ord(char) > 0xFF:
                folded = unicodedata.normalize("NFKD", char)[:1]
                char = folded if folded and ord(folded) <= 0xFF else "?"
            table.append(_font_glyph(font, char))
    return tuple(table)


def render_rgb(text: bytes) -> bytes:
    """The screen as WIDTH x HEIGHT RGB bytes, from the TEXT_BYTES of the text buffer."""
    if len(text) < TEXT_BYTES:
        raise ValueError(f"a text screen is {TEXT_BYTES} bytes, got {len(text)}")
    font = glyphs()
    colours = [bytes(rgb) for rgb in PALETTE]
    spans: dict[tuple[int, int], bytes] = {}        # (attribute, row bits) -> 8 pixels
    stride = WIDTH * 3
    out = bytearray(stride * HEIGHT)
    for cell in range(COLUMNS * ROWS):
        char, attr = text[2 * cell], text[2 * cell + 1] & 0x7F
        row, col = divmod(cell, COLUMNS)
        offset = row * CELL_H * stride + col * CELL_W * 3
        for bits in font[char]:
            span = spans.get((attr, bits))
            if span is None:
                fg, bg = colours[attr & 0x0F], colours[attr >> 4]
                span = spans[(attr, bits)] = b"".join(fg if bits & (0x80 >> x) else bg for x in range(CELL_W))
            out[offset:offset + CELL_W * 3] = span
            offset += stride
    return bytes(out)


def render_png(text: bytes, path: str) -> None:
    """Write the text screen held in `text` (the 4000 bytes at 0xB8000) to `path` as a PNG."""
    from PIL import Image
    Image.frombytes("RGB", (WIDTH, HEIGHT), render_rgb(text)).save(path, format="PNG")
