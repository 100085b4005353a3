"""Reference semantics of the vector ops: i128 values taken as lanes, one Python loop per op.

The interpreter evaluates them here; the LLVM lowering must agree (tests/test_ir.py
checks every op on both engines).
"""


def lanes(value: int, lane: int) -> list[int]:
    mask = (1 << lane) - 1
    return [(value >> (i * lane)) & mask for i in range(128 // lane)]


def join(values: list[int], lane: int) -> int:
    mask = (1 << lane) - 1
    out = 0
    for i, v in enumerate(values):
        out |= (v & mask) << (i * lane)
    return out


def signed(v: int, bits: int) -> int:
    return v - (1 << bits) if v >> (bits - 1) else v


def _clamp(v: int, lo: int, hi: int) -> int:
    return lo if v < lo else hi if v > hi else v


def _lanewise(fn):
    def run(a: int, b: int, lane: int) -> int:
        return join([fn(x, y, lane) for x, y in zip(lanes(a, lane), lanes(b, lane))], lane)
    return run


def _shift(kind):
    def run(a: int, count: int, lane: int) -> int:
        if count >= lane:
            if kind != "vashr":
                return 0
            count = lane - 1
        if kind == "vshl":
            return join([x << count for x in lanes(a, lane)], lane)
        if kind == "vlshr":
            return join([x >> count for x in lanes(a, lane)], lane)
        return join([signed(x, lane) >> count for x in lanes(a, lane)], lane)
    return run


def _pack(signed_result: bool):
    def run(a: int, b: int, lane: int) -> int:
        half = lane // 2
        lo, hi = ((-(1 << (half - 1)), (1 << (half - 1)) - 1) if signed_result else (0, (1 << half) - 1))
        values = [signed(x, lane) for x in lanes(a, lane) + lanes(b, lane)]
        return join([_clamp(v, lo, hi) for v in values], half)
    return run


def _saturate(op, is_signed):
    def lane_fn(x, y, lane):
        if is_signed:
            x, y = signed(x, lane), signed(y, lane)
            lo, hi = -(1 << (lane - 1)), (1 << (lane - 1)) - 1
        else:
            lo, hi = 0, (1 << lane) - 1
        return _clamp(x + y if op == "add" else x - y, lo, hi)
    return _lanewise(lane_fn)


VECTOR_SEMANTICS = {
    "vadd": _lanewise(lambda x, y, L: x + y),
    "vsub": _lanewise(lambda x, y, L: x - y),
    "vmul": _lanewise(lambda x, y, L: x * y),
    "vmulhu": _lanewise(lambda x, y, L: (x * y) >> L),
    "vmulhs": _lanewise(lambda x, y, L: (signed(x, L) * signed(y, L)) >> L),
    "vcmpeq": _lanewise(lambda x, y, L: -1 if x == y else 0),
    "vcmpgt": _lanewise(lambda x, y, L: -1 if signed(x, L) > signed(y, L) else 0),
    "vminu": _lanewise(lambda x, y, L: min(x, y)),
    "vmaxu": _lanewise(lambda x, y, L: max(x, y)),
    "vmins": _lanewise(lambda x, y, L: x if signed(x, L) <= signed(y, L) else y),
    "vmaxs": _lanewise(lambda x, y, L: x if signed(x, L) >= signed(y, L) else y),
    "vaddsu": _saturate("add", False), "vaddss": _saturate("add", True),
    "vsubsu": _saturate("sub", False), "vsubss": _saturate("sub", True),
    "vavgu": _lanewise(lambda x, y, L: (x + y + 1) >> 1),
    "vpacks": _pack(True), "vpacku": _pack(False),
    "vshl": _shift("vshl"), "vlshr": _shift("vlshr"), "vashr": _shift("vashr"),
}


def movmsk(a: int, lane: int) -> int:
    return sum(((x >> (lane - 1)) & 1) << i for i, x in enumerate(lanes(a, lane)))


def shuffle(a: int, b: int, lane: int, indices) -> int:
    pool = lanes(a, lane) + lanes(b, lane)
    return join([pool[i] if i >= 0 else 0 for i in indices], lane)
