"""The x87 transcendentals (fsin fcos fsincos fptan fpatan f2xm1 fyl2x fyl2xp1) as the host CPU computes them.

Their results are not one rounding of an exact value: each CPU family has its own
argument reduction and polynomial, and the last bit differs between vendors (and
from qemu's software version). Measured on this project's Intel Xeon (2000 random
operands each, round to nearest, against mpmath at 300 bits): correctly rounded
fsin 80%, fcos 84%, fptan 92%, f2xm1 95%, fyl2x 93%, fyl2xp1 91%, fpatan 98%; the
rest 1 ulp off, except fsin/fcos near a multiple of pi (a 66-bit pi in the
reduction): thousands of ulps of a tiny result. A correctly rounded model would
then disagree with the host in up to one case in five, so none is attempted:
only the CPU that runs dbt defines these results, and both
engines run the host's own instruction, on operands in memory, under a fresh x87
state (all exceptions masked, 64-bit precision, the guest's rounding control):
the LLVM lowering in inline asm (lower_float.py), the interpreter through the
thunk below. THUNK_LAYOUT is the one contract both follow.

A thunk is 32 bytes of fixed machine code: fninit; fldcw; fld ST1; fld ST0; the
instruction; fnstsw; fstp out0; fstp out1 (an empty register then reads as the
indefinite, harmlessly); fninit; fldcw 0x037F (the host default); ret.
"""
import ctypes
import functools
import mmap

INSNS = {"fsin": b"\xd9\xfe", "fcos": b"\xd9\xff", "fsincos": b"\xd9\xfb", "fptan": b"\xd9\xf2",
         "fpatan": b"\xd9\xf3", "f2xm1": b"\xd9\xf0", "fyl2x": b"\xd9\xf1", "fyl2xp1": b"\xd9\xf9"}
# Offsets in the buffer a thunk works on (rdi): operands ST0 and ST1 (f80), the control word
# to run under and the host's, then what the instruction leaves in ST0 and ST1, and the status word.
THUNK_LAYOUT = {"st0": 0, "st1": 16, "cw": 32, "host_cw": 34, "out0": 48, "out1": 64, "sw": 80}
HOST_CW = 0x037F
_BUFFER = 96


def control_word(rc: int) -> int:
    """All exceptions masked, 64-bit precision, rounding control rc."""
    return HOST_CW | (rc & 3) << 10


def _code(insn: str) -> bytes:
    at = THUNK_LAYOUT
    return b"".join([
        b"\xdb\xe3",                                   # fninit
        b"\xd9\x6f" + bytes([at["cw"]]),               # fldcw [rdi+cw]
        b"\xdb\x6f" + bytes([at["st1"]]),              # fld tbyte [rdi+st1]
        b"\xdb\x2f",                                   # fld tbyte [rdi] (st0)
        INSNS[insn],
        b"\xdd\x7f" + bytes([at["sw"]]),               # fnstsw [rdi+sw]
        b"\xdb\x7f" + bytes([at["out0"]]),             # fstp tbyte [rdi+out0]
        b"\xdb\x7f" + bytes([at["out1"]]),             # fstp tbyte [rdi+out1]
        b"\xdb\xe3",                                   # fninit
        b"\xd9\x6f" + bytes([at["host_cw"]]),          # fldcw [rdi+host_cw]
        b"\xc3"])                                      # ret


@functools.lru_cache(maxsize=None)
def _thunks():
    """{insn: callable(buffer address)} in one executable page, made once per process."""
    page = mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    base = ctypes.addressof(ctypes.c_char.from_buffer(page))
    fns = {}
    for k, insn in enumerate(INSNS):
        code = _code(insn)
        page[k * 64:k * 64 + len(code)] = code
        fns[insn] = ctypes.CFUNCTYPE(None, ctypes.c_void_p)(base + k * 64)
    return page, fns


def run(insn: str, st0: int, st1: int, rc: int) -> tuple[int, int, int]:
    """(ST0, ST1, status word) the host's `insn` leaves, from ST0 = st0 and ST1 = st1 (f80
    encodings) under rounding control rc."""
    at = THUNK_LAYOUT
    buf = bytearray(_BUFFER)
    buf[at["st0"]:at["st0"] + 10] = (st0 & ((1 << 80) - 1)).to_bytes(10, "little")
    buf[at["st1"]:at["st1"] + 10] = (st1 & ((1 << 80) - 1)).to_bytes(10, "little")
    buf[at["cw"]:at["cw"] + 2] = control_word(rc).to_bytes(2, "little")
    buf[at["host_cw"]:at["host_cw"] + 2] = HOST_CW.to_bytes(2, "little")
    c_buf = (ctypes.c_char * _BUFFER).from_buffer(buf)
    _thunks()[1][insn](ctypes.addressof(c_buf))

    def field(name: str, size: int) -> int:
        return int.from_bytes(buf[at[name]:at[name] + size], "little")
    return field("out0", 10), field("out1", 10), field("sw", 2)
