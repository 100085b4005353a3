"""The registers gdb sees: an x86-64 target description and their values in CPUState.

The order of REGISTERS is gdb's register numbering and the layout of the `g`
packet (gdb's amd64 features: core, sse, segments, and linux in user mode).
Values are little-endian, as the target is. Registers dbt does not model
(segment selectors, the x87 instruction/operand pointers) read as their
fixed values and refuse any other value on write.
"""
from dataclasses import dataclass

from dbt.runtime.cpu import GPR_NAMES

GDB_GPRS = ("rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp",
            "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15")
USER_SELECTORS = {"cs": 0x33, "ss": 0x2B}        # Linux's user code and stack segments
KERNEL_SELECTORS = {"cs": 0x08, "ss": 0x10}      # the pc machine's (dbt/runtime/interrupts.py)
ST_BYTES, ST_SLOT = 10, 16
FSW_TOP_SHIFT, FSW_TOP_MASK = 11, 0x3800


@dataclass(frozen=True)
class Register:
    name: str
    bits: int
    type: str
    feature: str


def _layout(user_mode: bool) -> tuple[Register, ...]:
    core, sse, seg, linux = ("org.gnu.gdb.i386.core", "org.gnu.gdb.i386.sse",
                             "org.gnu.gdb.i386.segments", "org.gnu.gdb.i386.linux")
    regs = [Register(name, 64, "int64", core) for name in GDB_GPRS]
    regs[6:8] = [Register("rbp", 64, "data_ptr", core), Register("rsp", 64, "data_ptr", core)]
    regs.append(Register("rip", 64, "code_ptr", core))
    regs.append(Register("eflags", 32, "i386_eflags", core))
    regs += [Register(name, 32, "int32", core) for name in ("cs", "ss", "ds", "es", "fs", "gs")]
    regs += [Register(f"st{i}", 80, "i387_ext", core) for i in range(8)]
    regs += [Register(name, 32, "int", core)
             for name in ("fctrl", "fstat", "ftag", "fiseg", "fioff", "foseg", "fooff", "fop")]
    regs += [Register(f"xmm{i}", 128, "vec128", sse) for i in range(16)]
    regs.append(Register("mxcsr", 32, "i386_mxcsr", sse))
    regs += [Register("fs_base", 64, "int", seg), Register("gs_base", 64, "int", seg)]
    if user_mode:
        regs.append(Register("orig_rax", 64, "int", linux))
    return tuple(regs)


EFLAGS_BITS = (("CF", 0), ("", 1), ("PF", 2), ("AF", 4), ("ZF", 6), ("SF", 7), ("TF", 8), ("IF", 9),
               ("DF", 10), ("OF", 11), ("NT", 14), ("RF", 16), ("VM", 17), ("AC", 18), ("VIF", 19),
               ("VIP", 20), ("ID", 21))
MXCSR_BITS = (("IE", 0), ("DE", 1), ("ZE", 2), ("OE", 3), ("UE", 4), ("PE", 5), ("DAZ", 6), ("IM", 7),
              ("DM", 8), ("ZM", 9), ("OM", 10), ("UM", 11), ("PM", 12), ("FZ", 15))
VECTORS = (("v4f", "ieee_single", 4, "v4_float"), ("v2d", "ieee_double", 2, "v2_double"),
           ("v16i8", "int8", 16, "v16_int8"), ("v8i16", "int16", 8, "v8_int16"),
           ("v4i32", "int32", 4, "v4_int32"), ("v2i64", "int64", 2, "v2_int64"))


def _flags(type_id: str, bits) -> str:
    fields = "".join(f'<field name="{name}" start="{bit}" end="{bit}"/>' for name, bit in bits)
    return f'\n  <flags id="{type_id}" size="4">{fields}</flags>'


def _vec128() -> str:
    vectors = "".join(f'\n  <vector id="{vid}" type="{elem}" count="{count}"/>' for vid, elem, count, _ in VECTORS)
    fields = "".join(f'<field name="{name}" type="{vid}"/>' for vid, _, _, name in VECTORS)
    return f'{vectors}\n  <union id="vec128">{fields}<field name="uint128" type="uint128"/></union>'


TYPES = {"org.gnu.gdb.i386.core": _flags("i386_eflags", EFLAGS_BITS),
         "org.gnu.gdb.i386.sse": _vec128() + _flags("i386_mxcsr", MXCSR_BITS)}


class RegisterFile:
    """Reads and writes gdb's registers on one Emulator (its cpu and rflags)."""

    def __init__(self, emu, user_mode: bool):
        self.emu, self.cpu = emu, emu.cpu
        self.regs = _layout(user_mode)
        self.index = {r.name: i for i, r in enumerate(self.regs)}
        self.selectors = USER_SELECTORS if user_mode else KERNEL_SELECTORS

    def target_xml(self) -> str:
        """The target description gdb asks for with qXfer:features:read:target.xml."""
        parts = ['<?xml version="1.0"?>\n<!DOCTYPE target SYSTEM "gdb-target.dtd">\n<target version="1.0">',
                 "  <architecture>i386:x86-64</architecture>"]
        feature = None
        for num, reg in enumerate(self.regs):
            if reg.feature != feature:
                if feature is not None:
                    parts.append("</feature>")
                feature = reg.feature
                parts.append(f'<feature name="{feature}">{TYPES.get(feature, "")}')
            parts.append(f'  <reg name="{reg.name}" bitsize="{reg.bits}" type="{reg.type}" regnum="{num}"/>')
        parts += ["</feature>", "</target>"]
        return "\n".join(parts)

    # -- one register -------------------------------------------------------------
    def read(self, num: int) -> bytes:
        reg = self.regs[num]
        return self._value(reg.name).to_bytes(reg.bits // 8, "little")

    def write(self, num: int, data: bytes) -> bool:
        """Set register num from its bytes; False when dbt cannot hold that value."""
        reg = self.regs[num]
        if len(data) != reg.bits // 8:
            return False
        return self._set(reg.name, int.from_bytes(data, "little"))

    def read_all(self) -> bytes:
        return b"".join(self.read(i) for i in range(len(self.regs)))

    def write_all(self, data: bytes) -> bool:
        pos, ok = 0, True
        for num, reg in enumerate(self.regs):
            size = reg.bits // 8
            if pos + size > len(data):
                break                        # gdb may send a prefix of the registers
            ok = self.write(num, data[pos:pos + size]) and ok
            pos += size
        return ok

    # -- values -------------------------------------------------------------------
    def _value(self, name: str) -> int:
        cpu = self.cpu
        if name in GPR_NAMES or name in ("rip", "fs_base", "gs_base", "mxcsr"):
            return getattr(cpu, name)
        if name == "eflags":
            return self.emu.rflags
        if name.startswith("st"):
            slot = ST_SLOT * int(name[2:])
            return int.from_bytes(bytes(cpu.st[slot:slot + ST_BYTES]), "little")
        if name.startswith("xmm"):
            i = 2 * int(name[3:])
            return cpu.xmm[i] | (cpu.xmm[i + 1] << 64)
        if name == "fctrl":
            return cpu.fpu_cw
        if name == "fstat":
            return (cpu.fpu_sw & ~FSW_TOP_MASK) | ((cpu.fpu_top & 7) << FSW_TOP_SHIFT)
        if name == "ftag":
            return cpu.fpu_tag
        if name == "orig_rax":
            return (1 << 64) - 1             # -1: not stopped inside a syscall
        return self.selectors.get(name, 0)   # unmodelled: selectors, x87 pointers

    def _set(self, name: str, value: int) -> bool:
        cpu = self.cpu
        if name in GPR_NAMES or name in ("rip", "fs_base", "gs_base", "mxcsr"):
            setattr(cpu, name, value)
        elif name == "eflags":
            self.emu.rflags = value
        elif name.startswith("st"):
            slot = ST_SLOT * int(name[2:])
            cpu.st[slot:slot + ST_BYTES] = list(value.to_bytes(ST_BYTES, "little"))
        elif name.startswith("xmm"):
            i = 2 * int(name[3:])
            cpu.xmm[i], cpu.xmm[i + 1] = value & ((1 << 64) - 1), value >> 64
        elif name == "fctrl":
            cpu.fpu_cw = value & 0xFFFF
        elif name == "fstat":
            cpu.fpu_sw, cpu.fpu_top = value & ~FSW_TOP_MASK & 0xFFFF, (value >> FSW_TOP_SHIFT) & 7
        elif name == "ftag":
            cpu.fpu_tag = value & 0xFFFF
        else:
            return value == self._value(name)
        return True
