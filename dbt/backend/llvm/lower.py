"""Lowers IR to LLVM IR text: one function `tb_<pc>(ptr %cpu) -> i64 exit reason` per block.

Emitted as text from small templates (measured much cheaper than llvmlite.ir).
Guest state is reached by byte offsets taken from the CPUState Structure;
guest memory through the base the CPU points to. A load or store of its own is
one host instruction after a compare with the space's size (`faulting_access`):
when the host protection of native code's view refuses it (memory.py), the SIGSEGV
handler continues at its exact check (host_faults.py), a call of @dbt_guest_access
(runtime_helpers.py) with a fault landing. A group of accesses near one base
(access_groups.py) is checked once, by two such instructions at its span's ends.
Direct exits go through a per-exit slot global (`musttail` when patched),
indirect ones through the native jump cache.
Translated functions use LLVM's ghccc calling convention, which saves no register for
its caller: a region entered and left 200 M times (musl's printf) no longer pushes and
pops six callee-saved registers each time. The runtime enters them through @dbt_enter.
"""
from dbt.backend.llvm.access_groups import ALONE, Group, plan_accesses
from dbt.backend.llvm.host_faults import FAULTS_SECTION
from dbt.backend.llvm.lower_float import lower_float
from dbt.backend.llvm.symbols import JMP_CACHE_BITS, JMP_CACHE_ENTRIES, hits_name, refs_name, target_name
from dbt.ir.exits import ExitReason, Vector
from dbt.ir.ops import COMPARE, VECTOR_BINARY, VECTOR_SHIFT, Block, Op, Ty, Value
from dbt.ir.ops import FLOAT_OPS
from dbt.runtime.cpu import CPUState, SLOTS
from dbt.runtime.memory import PAGE_SHIFT
from dbt.runtime.regions import indirect

_LLVM_BINARY = {"and": "and", "or": "or", "xor": "xor", "add": "add", "sub": "sub", "mul": "mul",
                "udiv": "udiv", "urem": "urem", "sdiv": "sdiv", "srem": "srem",
                "shl": "shl", "lshr": "lshr", "ashr": "ashr"}
_LLVM_COMPARE = {c: c for c in COMPARE}
# faulting_access's host instruction by width: mnemonic, register constraint (stores: what the
# stored value may be), the asm operand's LLVM type
HOST_MOV = {Ty.I8: ("movb", "r", "ri", "i8"), Ty.I16: ("movw", "r", "ri", "i16"), Ty.I32: ("movl", "r", "ri", "i32"),
            Ty.I64: ("movq", "r", "re", "i64"), Ty.I128: ("movdqu", "x", "x", "<2 x i64>")}
PROBE = {False: ("movb $1, $0", "=r,*m", "memory(argmem: read)"),             # a group's span may be read
         True: ("orb $$0, $0", "*m,~{flags}", "memory(argmem: readwrite)")}   # ... written: changes nothing


def _vector_binop(opcode):
    def lower(f, lane, vt, x, y):
        r = f.fresh()
        f.emit(f"{r} = {opcode} {vt} {x}, {y}")
        return vt, r
    return lower


def _vector_intrinsic(name):
    def lower(f, lane, vt, x, y):
        n = 128 // lane
        f.intrinsic(f"declare {vt} @llvm.{name}.v{n}i{lane}({vt}, {vt})")
        r = f.fresh()
        f.emit(f"{r} = call {vt} @llvm.{name}.v{n}i{lane}({vt} {x}, {vt} {y})")
        return vt, r
    return lower


def _vector_compare(predicate):
    def lower(f, lane, vt, x, y):
        n = 128 // lane
        c, r = f.fresh(), f.fresh()
        f.emit(f"{c} = icmp {predicate} {vt} {x}, {y}")
        f.emit(f"{r} = sext <{n} x i1> {c} to {vt}")
        return vt, r
    return lower


def _vector_widened(kind):
    """High half of lane products (signed/unsigned) and the rounding average, at double width."""
    def lower(f, lane, vt, x, y):
        n = 128 // lane
        wt = f"<{n} x i{2 * lane}>"
        ext = "sext" if kind == "mulhs" else "zext"
        wx, wy, r, s, t = (f.fresh() for _ in range(5))
        f.emit(f"{wx} = {ext} {vt} {x} to {wt}")
        f.emit(f"{wy} = {ext} {vt} {y} to {wt}")
        if kind == "avg":
            one = f.fresh()
            f.emit(f"{r} = add {wt} {wx}, {wy}")
            f.emit(f"{one} = add {wt} {r}, <{', '.join([f'i{2 * lane} 1'] * n)}>")
            f.emit(f"{s} = lshr {wt} {one}, <{', '.join([f'i{2 * lane} 1'] * n)}>")
        else:
            f.emit(f"{r} = mul {wt} {wx}, {wy}")
            f.emit(f"{s} = lshr {wt} {r}, <{', '.join([f'i{2 * lane} {lane}'] * n)}>")
        f.emit(f"{t} = trunc {wt} {s} to {vt}")
        return vt, t
    return lower


VECTOR_LOWERING = {
    "vadd": _vector_binop("add"), "vsub": _vector_binop("sub"), "vmul": _vector_binop("mul"),
    "vmulhu": _vector_widened("mulhu"), "vmulhs": _vector_widened("mulhs"), "vavgu": _vector_widened("avg"),
    "vcmpeq": _vector_compare("eq"), "vcmpgt": _vector_compare("sgt"),
    "vminu": _vector_intrinsic("umin"), "vmaxu": _vector_intrinsic("umax"),
    "vmins": _vector_intrinsic("smin"), "vmaxs": _vector_intrinsic("smax"),
    "vaddsu": _vector_intrinsic("uadd.sat"), "vaddss": _vector_intrinsic("sadd.sat"),
    "vsubsu": _vector_intrinsic("usub.sat"), "vsubss": _vector_intrinsic("ssub.sat"),
}


def ity(ty: Ty) -> str:
    return f"i{ty.value}"


def literal(ty: Ty, value: int) -> str:
    if ty == Ty.I1:
        return "true" if value & 1 else "false"
    value &= ty.mask
    return str(value - (1 << ty.value) if value >> (ty.value - 1) else value)




class FunctionLowering:
    """Emits the body of one LLVM function from IR ops. Pure ops are shared by blocks and helpers."""

    def __init__(self, names: dict[int, str] | None = None):
        self.lines: list[str] = []
        self.names: dict[int, str] = dict(names or {})
        self.counter = 0
        self.intrinsics: set[str] = set()

    def fresh(self, prefix: str = "t") -> str:
        self.counter += 1
        return f"%{prefix}{self.counter}"

    def emit(self, text: str) -> None:
        self.lines.append("  " + text)

    def label(self, name: str) -> None:
        self.lines.append(f"{name}:")

    def branch(self, cond: str, then: str, other: str, likely: bool | None = None) -> None:
        """br on i1 `cond` to labels `then` / `other`; `likely`: whether `then` is the common
        way (branch weights, so LLVM lays the other way out of line), None: no hint."""
        hint = "" if likely is None else f", !prof !{{!\"branch_weights\", i32 {2000 if likely else 1}, i32 {1 if likely else 2000}}}"
        self.emit(f"br i1 {cond}, label %{then}, label %{other}{hint}")

    def v(self, value: Value) -> str:
        return self.names[id(value)]

    def define(self, op: Op, text: str) -> None:
        name = self.fresh("v")
        self.names[id(op.result)] = name
        self.emit(f"{name} = {text}")

    def intrinsic(self, decl: str) -> None:
        self.intrinsics.add(decl)

    # -- pure ops ---------------------------------------------------------------
    def lower_pure(self, op: Op) -> None:
        name, ty = op.opcode, op.result.ty
        t = ity(ty)
        if name == "const":
            self.names[id(op.result)] = literal(ty, op.attrs["value"])
            return
        a = [self.v(x) for x in op.args]
        if name in ("shl", "lshr", "ashr"):
            self.lower_shift(op, name, t, a)
        elif name in ("rotl", "rotr"):
            fn = f"llvm.fsh{'l' if name == 'rotl' else 'r'}.{t}"
            self.intrinsic(f"declare {t} @{fn}({t}, {t}, {t})")
            self.define(op, f"call {t} @{fn}({t} {a[0]}, {t} {a[0]}, {t} {a[1]})")
        elif name in ("udiv", "urem", "sdiv", "srem"):
            self.lower_division(op, name, ty, a)
        elif name in _LLVM_BINARY:
            self.define(op, f"{_LLVM_BINARY[name]} {t} {a[0]}, {a[1]}")
        elif name in _LLVM_COMPARE:
            self.define(op, f"icmp {name} {ity(op.args[0].ty)} {a[0]}, {a[1]}")
        elif name in ("zext", "sext", "trunc"):
            self.define(op, f"{name} {ity(op.args[0].ty)} {a[0]} to {t}")
        elif name == "select":
            self.define(op, f"select i1 {a[0]}, {t} {a[1]}, {t} {a[2]}")
        elif name == "not":
            self.define(op, f"xor {t} {a[0]}, -1")
        elif name == "neg":
            self.define(op, f"sub {t} 0, {a[0]}")
        elif name == "ctpop" or (name == "bswap" and ty != Ty.I8):
            self.intrinsic(f"declare {t} @llvm.{name}.{t}({t})")
            self.define(op, f"call {t} @llvm.{name}.{t}({t} {a[0]})")
        elif name == "bswap":
            self.names[id(op.result)] = a[0]
        elif name in ("ctlz", "cttz"):
            self.intrinsic(f"declare {t} @llvm.{name}.{t}({t}, i1)")
            self.define(op, f"call {t} @llvm.{name}.{t}({t} {a[0]}, i1 false)")
        elif name in VECTOR_BINARY or name in VECTOR_SHIFT or name in ("vmovmsk", "vshuffle"):
            self.lower_vector(op, name, a)
        elif name == "cc_all":
            self.define(op, f"call i64 @dbt_cc_all(i64 {a[0]}, i64 {a[1]}, i64 {a[2]}, i64 {a[3]})")
        elif name in FLOAT_OPS:
            lower_float(self, op, a)
        else:
            raise NotImplementedError(f"LLVM backend: no lowering for op {name!r}")

    def as_vector(self, value: str, lane: int) -> str:
        v = self.fresh()
        self.emit(f"{v} = bitcast i128 {value} to <{128 // lane} x i{lane}>")
        return v

    def lower_vector(self, op: Op, name: str, a: list[str]) -> None:
        """Lane ops: bitcast i128 to <n x iL>, one vector instruction or intrinsic, bitcast back."""
        lane = op.attrs["lane"]
        n, vt = 128 // lane, f"<{128 // lane} x i{lane}>"
        x = self.as_vector(a[0], lane)
        if name == "vmovmsk":
            neg, bits = self.fresh(), self.fresh()
            self.emit(f"{neg} = icmp slt {vt} {x}, zeroinitializer")
            self.emit(f"{bits} = bitcast <{n} x i1> {neg} to i{n}")
            self.define(op, f"zext i{n} {bits} to i32")
            return
        if name == "vshuffle":
            y = self.as_vector(a[1], lane)
            zero_lane = 2 * n          # index into (a, b, zero) built below
            pool, ab = self.fresh(), self.fresh()
            mask = ", ".join(f"i32 {i if i >= 0 else zero_lane}" for i in op.attrs["indices"])
            self.emit(f"{ab} = shufflevector {vt} {x}, {vt} {y}, <{2 * n} x i32> <{', '.join(f'i32 {i}' for i in range(2 * n))}>")
            self.emit(f"{pool} = shufflevector <{2 * n} x i{lane}> {ab}, <{2 * n} x i{lane}> zeroinitializer, <{n} x i32> <{mask}>")
            self.define(op, f"bitcast {vt} {pool} to i128")
            return
        if name in VECTOR_SHIFT:
            r = self.vector_shift(name, lane, n, vt, x, a[1])
        elif name in ("vpacks", "vpacku"):
            r = self.vector_pack(name, lane, n, x, self.as_vector(a[1], lane))
        else:
            r = VECTOR_LOWERING[name](self, lane, vt, x, self.as_vector(a[1], lane))
        self.define(op, f"bitcast {r[0]} {r[1]} to i128")

    def vector_shift(self, name, lane, n, vt, x, count):
        big, c, splat0, splat, shifted = (self.fresh() for _ in range(5))
        self.emit(f"{big} = icmp uge i64 {count}, {lane}")
        limit = lane - 1 if name == "vashr" else 0
        self.emit(f"{c} = select i1 {big}, i64 {limit}, i64 {count}")
        ct = self.fresh()
        self.emit(f"{ct} = trunc i64 {c} to i{lane}") if lane < 64 else self.emit(f"{ct} = add i64 {c}, 0")
        self.emit(f"{splat0} = insertelement {vt} poison, i{lane} {ct}, i32 0")
        self.emit(f"{splat} = shufflevector {vt} {splat0}, {vt} poison, <{n} x i32> zeroinitializer")
        opcode = {"vshl": "shl", "vlshr": "lshr", "vashr": "ashr"}[name]
        self.emit(f"{shifted} = {opcode} {vt} {x}, {splat}")
        if name == "vashr":
            return vt, shifted
        r = self.fresh()
        self.emit(f"{r} = select i1 {big}, {vt} zeroinitializer, {vt} {shifted}")
        return vt, r

    def vector_pack(self, name, lane, n, x, y):
        half = lane // 2
        wide, lo, hi, clamped_lo, clamped, narrow = (self.fresh() for _ in range(6))
        wt = f"<{2 * n} x i{lane}>"
        self.emit(f"{wide} = shufflevector <{n} x i{lane}> {x}, <{n} x i{lane}> {y}, <{2 * n} x i32> <{', '.join(f'i32 {i}' for i in range(2 * n))}>")
        low, high = ((-(1 << (half - 1)), (1 << (half - 1)) - 1) if name == "vpacks" else (0, (1 << half) - 1))
        for fn in ("smax", "smin"):
            self.intrinsic(f"declare {wt} @llvm.{fn}.v{2 * n}i{lane}({wt}, {wt})")
        self.emit(f"{lo} = insertelement {wt} poison, i{lane} {low}, i32 0")
        self.emit(f"{hi} = insertelement {wt} poison, i{lane} {high}, i32 0")
        lo_s, hi_s = self.fresh(), self.fresh()
        self.emit(f"{lo_s} = shufflevector {wt} {lo}, {wt} poison, <{2 * n} x i32> zeroinitializer")
        self.emit(f"{hi_s} = shufflevector {wt} {hi}, {wt} poison, <{2 * n} x i32> zeroinitializer")
        self.emit(f"{clamped_lo} = call {wt} @llvm.smax.v{2 * n}i{lane}({wt} {wide}, {wt} {lo_s})")
        self.emit(f"{clamped} = call {wt} @llvm.smin.v{2 * n}i{lane}({wt} {clamped_lo}, {wt} {hi_s})")
        self.emit(f"{narrow} = trunc {wt} {clamped} to <{2 * n} x i{half}>")
        return f"<{2 * n} x i{half}>", narrow

    def lower_division(self, op: Op, name: str, ty: Ty, a: list[str]) -> None:
        """Division made total as the interpreter defines it: a divisor of 0 (or -1 against
        signed MIN) is replaced by 1, so the host divide instruction can never trap."""
        t = ity(ty)
        divisor = op.args[1]
        constant = divisor.op.attrs["value"] if divisor.op is not None and divisor.op.opcode == "const" else None
        safe = a[1]
        if constant is None or constant == 0 or (name[0] == "s" and constant == ty.mask):
            zero, bad = self.fresh(), self.fresh()
            self.emit(f"{zero} = icmp eq {t} {a[1]}, 0")
            bad = zero
            if name[0] == "s":
                minus1, is_min, overflow, either = self.fresh(), self.fresh(), self.fresh(), self.fresh()
                self.emit(f"{minus1} = icmp eq {t} {a[1]}, -1")
                self.emit(f"{is_min} = icmp eq {t} {a[0]}, {literal(ty, 1 << (ty.value - 1))}")
                self.emit(f"{overflow} = and i1 {minus1}, {is_min}")
                self.emit(f"{either} = or i1 {zero}, {overflow}")
                bad = either
            safe = self.fresh()
            self.emit(f"{safe} = select i1 {bad}, {t} 1, {t} {a[1]}")
        self.define(op, f"{name} {t} {a[0]}, {safe}")

    def lower_shift(self, op: Op, name: str, t: str, a: list[str]) -> None:
        amount = op.args[1]
        width = op.result.ty.value
        if amount.op is not None and amount.op.opcode == "const" and amount.op.attrs["value"] < width:
            self.define(op, f"{name} {t} {a[0]}, {a[1]}")
            return
        shifted, ok = self.fresh(), self.fresh()
        self.emit(f"{shifted} = {name} {t} {a[0]}, {a[1]}")
        self.emit(f"{ok} = icmp ult {t} {a[1]}, {width}")
        if name == "ashr":
            fill = self.fresh()
            self.emit(f"{fill} = ashr {t} {a[0]}, {width - 1}")
        else:
            fill = "0"
        self.define(op, f"select i1 {ok}, {t} {shifted}, {t} {fill}")


class BlockLowering(FunctionLowering):
    """Lowers one IR block into a complete LLVM module text.

    With `hot_threshold`, the block counts its entries in a module global and
    exits HOT (nothing retired, rip = its pc) on the entry that reaches it.
    """

    def __init__(self, block: Block, name: str, hot_threshold: int | None = None):
        super().__init__()
        self.block, self.name, self.hot_threshold = block, name, hot_threshold
        self.slots: list[tuple[str, int]] = []      # (global name, target pc)
        self.pc, self.index = block.pc, 0
        self.icount_base = "%icount0"               # icount at the entry of the block being lowered
        self.tails: list[str] = []                  # out-of-line fault landings
        self.landings: dict[tuple, str] = {}        # (instruction, exit state) -> its shared fault landing
        self.inside: set[tuple[str, str]] = set()   # (icount_base: the block, address) accessed: below the space
        self.globals: list[str] = []
        self.access_plans = {}                      # id(load/store op) -> access_groups.Plan
        self.counted = False                        # whether it counts its entries (hits_name)
        self.records = False                        # whether it records its indirect target (target_name)

    def slot_ptr(self, slot: str) -> str:
        offset, _ = SLOTS[slot]
        p = self.fresh("p")
        self.emit(f"{p} = getelementptr i8, ptr %cpu, i64 {offset}")
        return p

    def cpu_field(self, field: str) -> str:
        p = self.fresh("p")
        self.emit(f"{p} = getelementptr i8, ptr %cpu, i64 {getattr(CPUState, field).offset}")
        return p

    def store_field(self, field: str, value: str) -> None:
        self.emit(f"store i64 {value}, ptr {self.cpu_field(field)}")

    def retire(self, count: int) -> None:
        if count:
            n = self.fresh()
            self.emit(f"{n} = add i64 {self.icount_base}, {count}")
            self.store_field("icount", n)

    def leave(self) -> None:
        """Emitted first on every path that returns to the runtime or chains out (regions
        write their guest registers back here); a block keeps its state in the CPU."""

    def exit_state(self) -> tuple:
        """What `leave` writes back depends on besides where it is (regions: the slots written)."""
        return ()

    def exit_with(self, reason: str) -> None:
        """Return `reason` (an i64 operand) to the runtime."""
        self.emit(f"ret i64 {reason}")

    def tail_call(self, fn: str, counter: str = "chain_count") -> None:
        """Continue in translated code `fn` (a ptr operand) without returning, counted in
        `counter` (chain_count for a direct chain, jc_hits for a jump-cache hit)."""
        self.count(counter)
        self.musttail(fn)

    def musttail(self, fn: str) -> None:
        r = self.fresh()
        self.emit(f"{r} = musttail call ghccc i64 {fn}(ptr %cpu)")
        self.emit(f"ret i64 {r}")

    # -- module -----------------------------------------------------------------
    def module(self) -> str:
        self.label("entry")
        self.load_runtime()
        self.enter_block(self.block, "%limit0")
        self.lower_ops(self.block.ops)
        return self.assemble()

    def load_runtime(self) -> None:
        for field in ("mem_base", "mem_pages", "icount", "limit"):
            p = self.cpu_field(field)
            self.emit(f"%{field}0 = load i64, ptr {p}")
        self.emit("%membase = inttoptr i64 %mem_base0 to ptr")
        self.emit(f"%space = shl i64 %mem_pages0, {PAGE_SHIFT}")

    def enter_block(self, b: Block, limit: str, reach: int | None = None) -> None:
        """The entry check (budget and exit_request in one: cpu.limit, read into `limit`;
        hotness) of block `b`; continues in its body. The budget must allow `reach`
        instructions (default: the block's); self.pc is b's. A bail is an INTERRUPT unless
        the budget alone is spent (limit 0 with no request left: a spurious one, harmless)."""
        end, stop, budget, spent, request, idle, only_budget, why = (self.fresh() for _ in range(8))
        bail, body = self.fresh("bail").lstrip("%"), self.fresh("body").lstrip("%")
        self.emit(f"{end} = add i64 {self.icount_base}, {b.ninsns if reach is None else reach}")
        self.emit(f"{stop} = icmp ugt i64 {end}, {limit}")
        self.branch(stop, bail, body, likely=False)
        self.label(bail)
        self.emit(f"{budget} = load volatile i64, ptr {self.cpu_field('budget')}")
        self.emit(f"{spent} = icmp ugt i64 {end}, {budget}")
        self.emit(f"{request} = load volatile i64, ptr {self.cpu_field('exit_request')}")
        self.emit(f"{idle} = icmp eq i64 {request}, 0")
        self.emit(f"{only_budget} = and i1 {spent}, {idle}")
        self.emit(f"{why} = select i1 {only_budget}, i64 {int(ExitReason.BUDGET)}, i64 {int(ExitReason.INTERRUPT)}")
        self.leave()
        self.store_field("rip", str(b.pc))
        self.exit_with(why)
        self.label(body)
        if self.hot_threshold is not None:
            self.count_entry(b.pc)

    def count_entry(self, pc: int) -> None:
        counter = f"@{hits_name(self.name)}"
        self.globals.append(f"{counter} = private global i64 0")
        self.counted = True
        old, new, hot = self.fresh(), self.fresh(), self.fresh()
        exit_hot, cont = self.fresh("hot").lstrip("%"), self.fresh("cold").lstrip("%")
        self.emit(f"{old} = load i64, ptr {counter}")
        self.emit(f"{new} = add i64 {old}, 1")
        self.emit(f"store i64 {new}, ptr {counter}")
        self.emit(f"{hot} = icmp eq i64 {new}, {self.hot_threshold}")
        self.branch(hot, exit_hot, cont, likely=False)
        self.label(exit_hot)
        self.store_field("rip", str(pc))
        self.emit(f"ret i64 {int(ExitReason.HOT)}")
        self.label(cont)

    def lower_ops(self, ops: list[Op]) -> None:
        self.access_plans.update(plan_accesses(ops))
        for op in ops:
            handler = getattr(self, f"lower_{op.opcode}", None)
            if handler is not None:
                handler(op)
            else:
                self.lower_pure(op)

    def assemble(self) -> str:
        head = ['target datalayout = "{datalayout}"',
                "declare i64 @dbt_cc_all(i64, i64, i64, i64)",
                "declare preserve_mostcc ptr @dbt_guest_access(ptr, i64, i64, i64)",
                *sorted(self.intrinsics),
                *(f"@{name} = private global ptr null" for name, _ in self.slots),
                *self.globals]
        refs = ([self.name, *(name for name, _ in self.slots)] + [hits_name(self.name)] * self.counted
                + [target_name(self.name)] * self.records)
        head.append(f"@{refs_name(self.name)} = constant [{len(refs)} x ptr] [{', '.join(f'ptr @{r}' for r in refs)}]")
        body = [f"define private ghccc i64 @{self.name}(ptr %cpu) {{", *self.lines, *self.tails, "}"]
        return "\n".join(head + body) + "\n"

    # -- effects ----------------------------------------------------------------
    def lower_insn_start(self, op: Op) -> None:
        self.pc, self.index = op.attrs["pc"], op.attrs["index"]

    def lower_get(self, op: Op) -> None:
        self.define(op, f"load {ity(op.result.ty)}, ptr {self.slot_ptr(op.attrs['slot'])}, align 8")

    def lower_put(self, op: Op) -> None:
        value = op.args[0]
        self.emit(f"store {ity(value.ty)} {self.v(value)}, ptr {self.slot_ptr(op.attrs['slot'])}, align 8")

    def fault_landing(self, vector: int | None = None, addr: str = "0", error: int = 0) -> str:
        """An out-of-line block that records a fault at the current instruction and exits
        (vector None: @dbt_guest_access has recorded vector, address and error code; the
        accesses of one instruction share that one, so that LLVM may sink what only it needs,
        such as the flags of an imul before an add to memory, into it)."""
        key = (self.icount_base, self.pc, self.index, self.exit_state()) if vector is None else None
        if key in self.landings:
            return self.landings[key]
        name = self.fresh("fault").lstrip("%")
        if key is not None:
            self.landings[key] = name
        saved, self.lines = self.lines, []
        self.label(name)
        self.leave()
        self.store_field("rip", str(self.pc))
        self.retire(self.index)
        if vector is not None:
            self.store_field("exit_vector", str(int(vector)))
            self.store_field("exit_addr", addr)
            self.store_field("exit_error", str(error))
        self.exit_with(str(int(ExitReason.FAULT)))
        self.tails += self.lines
        self.lines = saved
        return name

    def bitcast(self, value: str, from_type: str, to_type: str) -> str:
        if from_type == to_type:
            return value
        cast = self.fresh()
        self.emit(f"{cast} = bitcast {from_type} {value} to {to_type}")
        return cast

    def host_instruction(self, insn: str, constraints: str, args: str, effect: str, ok: str, refused: str,
                         result: str = "callbr void") -> None:
        """One host instruction that may fault (inline asm callbr, `result` naming its type and
        value), on to label `ok`; its entry in FAULTS_SECTION sends a fault to label `refused`
        (host_faults.py), every register as the instruction found it. The fault's way goes
        through a block of its own: LLVM cannot split a callbr's edges, and without one it
        could not sink what only the way out needs (an imul's flags) off the way on."""
        operands = [c for c in constraints.split(",") if not c.startswith("~")]
        clobbers = [c for c in constraints.split(",") if c.startswith("~")]
        entry = f".pushsection {FAULTS_SECTION},\\22a\\22\\0A.quad 1b, ${{{len(operands)}:l}}\\0A.popsection"
        faulted = self.fresh("faulted").lstrip("%")
        self.emit(f'{result} asm "1: {insn}\\0A{entry}", "{",".join([*operands, "!i", *clobbers])}"({args}) '
                  f"nounwind {effect} to label %{ok} [label %{faulted}]")
        self.tails += [f"{faulted}:", f"  br label %{refused}"]

    def check_span(self, group: Group) -> None:
        """The check of a group's span [root+low, root+end), at most a page's length: it starts
        below the space's size (the guard page after the space catches its end) and the host
        lets an instruction through at either end (PROBE: the group's pages allow it); else
        leave at this instruction with Vector.ACCESS_GROUP (the runtime interprets the rest
        of the block)."""
        low, last, below = self.fresh(), self.fresh(), self.fresh()
        root = "0" if group.root is None else self.v(group.root)
        self.emit(f"{low} = add i64 {root}, {group.low}")
        landing = self.fault_landing(int(Vector.ACCESS_GROUP), low)
        first, second, cont = (self.fresh(label).lstrip("%") for label in ("first", "second", "span"))
        self.emit(f"{below} = icmp ult i64 {low}, %space")
        self.branch(below, first, landing, likely=True)
        self.label(first)
        self.emit(f"{last} = add i64 {low}, {group.end - group.low - 1}")
        insn, constraints, effect = PROBE[group.writes]
        for at, ok in ((low, second), (last, cont)):
            host = self.fresh()
            self.emit(f"{host} = getelementptr i8, ptr %membase, i64 {at}")
            probed = f"{self.fresh()} = callbr i8" if not group.writes else "callbr void"
            self.host_instruction(insn, constraints, f"ptr elementtype(i8) {host}", effect, ok, landing, probed)
            self.label(ok)

    def lower_load(self, op: Op) -> None:
        plan = self.access_plans.get(id(op), ALONE)
        if plan.group is None:
            self.names[id(op.result)] = self.faulting_access(self.v(op.args[0]), op.result.ty)
        else:
            self.define(op, f"load {ity(op.result.ty)}, ptr {self.group_pointer(op, plan)}, align 1")

    def lower_store(self, op: Op) -> None:
        value, plan = op.args[1], self.access_plans.get(id(op), ALONE)
        if plan.group is None:
            self.faulting_access(self.v(op.args[0]), value.ty, self.v(value))
        else:
            self.emit(f"store {ity(value.ty)} {self.v(value)}, ptr {self.group_pointer(op, plan)}, align 1")

    def group_pointer(self, op: Op, plan) -> str:
        """Host pointer for an access of a group: its first access checks the group's span
        (check_span), the others need no check."""
        if plan.leads:
            self.check_span(plan.group)
        host = self.fresh()
        self.emit(f"{host} = getelementptr i8, ptr %membase, i64 {self.v(op.args[0])}")
        return host

    def faulting_access(self, addr: str, ty: Ty, value: str | None = None) -> str | None:
        """A guest load (value None: returns the value loaded) or store of an integer of type
        ty at guest address addr below the space's size as one host instruction that may fault
        (HOST_MOV, host_instruction: a fault continues at the access's exact check); an
        address past the space goes there at once (an address this block's lowering accessed
        before is inside: the store of an `add [rbx], eax` compares nothing)."""
        t, size, write = ity(ty), ty.value // 8, value is not None
        mov, register, stored, asm_type = HOST_MOV[ty]
        inside, fast, slow, checked_ok, join = (self.fresh(label).lstrip("%")
                                                for label in ("inside", "fast", "slow", "checked", "join"))
        if (self.icount_base, addr) in self.inside:
            self.emit(f"br label %{inside}")
        else:
            below = self.fresh()
            self.emit(f"{below} = icmp ult i64 {addr}, %space")
            self.branch(below, inside, slow, likely=True)
        self.inside.add((self.icount_base, addr))
        self.label(inside)
        direct = self.fresh()
        self.emit(f"{direct} = getelementptr i8, ptr %membase, i64 {addr}")
        if write:
            operand = self.bitcast(value, t, asm_type)
            self.host_instruction(f"{mov} $1, $0", f"=*m,{stored}", f"ptr elementtype({t}) {direct}, {asm_type} {operand}",
                                  "memory(argmem: write)", fast, slow)
        else:
            loaded = self.fresh()
            self.host_instruction(f"{mov} $1, $0", f"={register},*m", f"ptr elementtype({t}) {direct}",
                                  "memory(argmem: read)", fast, slow, result=f"{loaded} = callbr {asm_type}")
        self.label(slow)
        checked, refused, slow_value = self.fresh(), self.fresh(), self.fresh()
        self.emit(f"{checked} = call preserve_mostcc ptr @dbt_guest_access(ptr %cpu, i64 {addr}, i64 {size}, i64 {int(write)})")
        self.emit(f"{refused} = icmp eq ptr {checked}, null")
        self.branch(refused, self.fault_landing(), checked_ok, likely=False)
        self.label(checked_ok)
        if write:
            self.emit(f"store {t} {value}, ptr {checked}, align 1")
        else:
            self.emit(f"{slow_value} = load {t}, ptr {checked}, align 1")
        self.emit(f"br label %{join}")
        self.label(fast)
        if not write:
            fast_value = self.bitcast(loaded, asm_type, t)
        self.emit(f"br label %{join}")
        self.label(join)
        if write:
            return None
        result = self.fresh()
        self.emit(f"{result} = phi {t} [ {fast_value}, %{fast} ], [ {slow_value}, %{checked_ok} ]")
        return result

    def lower_check(self, op: Op) -> None:
        fault = self.fault_landing(op.attrs["vector"], error=op.attrs.get("error", 0))
        cont = self.fresh("ok").lstrip("%")
        self.branch(self.v(op.args[0]), fault, cont, likely=False)
        self.label(cont)

    def lower_exit_if(self, op: Op) -> None:
        leave, cont = self.fresh("leave").lstrip("%"), self.fresh("ok").lstrip("%")
        self.emit(f"br i1 {self.v(op.args[0])}, label %{leave}, label %{cont}")
        saved, self.lines = self.lines, []
        self.label(leave)
        self.chain_to(op.attrs["target"], op.attrs["retired"])
        self.tails += self.lines
        self.lines = saved
        self.label(cont)

    # -- terminators --------------------------------------------------------------
    def chain_to(self, target: int, retired: int | None = None) -> None:
        """Leave the block for a direct target: musttail through its slot, or MISS."""
        slot = slot_name(self.name, len(self.slots))
        self.slots.append((slot, target))
        self.leave()
        self.retire(self.block.ninsns if retired is None else retired)
        fn, null = self.fresh(), self.fresh()
        chain, miss = self.fresh("chain").lstrip("%"), self.fresh("miss").lstrip("%")
        self.emit(f"{fn} = load ptr, ptr @{slot}")
        self.emit(f"{null} = icmp eq ptr {fn}, null")
        self.branch(null, miss, chain, likely=False)
        self.label(chain)
        self.tail_call(fn)
        self.label(miss)
        self.store_field("rip", str(target))
        self.exit_with(str(int(ExitReason.MISS)))

    def count(self, field: str) -> None:
        """Add one to a CPUState counter (chain_count, jc_hits, jc_misses)."""
        p, old, new = self.cpu_field(field), self.fresh(), self.fresh()
        self.emit(f"{old} = load i64, ptr {p}")
        self.emit(f"{new} = add i64 {old}, 1")
        self.emit(f"store i64 {new}, ptr {p}")

    def lower_goto(self, op: Op) -> None:
        self.chain_to(op.attrs["target"])

    def lower_branch(self, op: Op) -> None:
        taken, fall = self.fresh("taken").lstrip("%"), self.fresh("fall").lstrip("%")
        self.emit(f"br i1 {self.v(op.args[0])}, label %{taken}, label %{fall}")
        self.label(taken)
        self.chain_to(op.attrs["taken"])
        self.label(fall)
        self.chain_to(op.attrs["fallthrough"])

    def lower_jump(self, op: Op) -> None:
        target = self.v(op.args[0])
        if self.hot_threshold is not None and indirect(self.block):
            self.globals.append(f"@{target_name(self.name)} = private global i64 0")
            self.records = True
            self.emit(f"store i64 {target}, ptr @{target_name(self.name)}")
        self.leave()
        self.retire(self.block.ninsns)
        self.store_field("rip", target)
        h1, h2, idx = self.fresh(), self.fresh(), self.fresh()
        self.emit(f"{h1} = lshr i64 {target}, {JMP_CACHE_BITS}")
        self.emit(f"{h2} = xor i64 {target}, {h1}")
        self.emit(f"{idx} = and i64 {h2}, {JMP_CACHE_ENTRIES - 1}")
        jc_raw, jc = self.fresh(), self.fresh()
        self.emit(f"{jc_raw} = load i64, ptr {self.cpu_field('jmp_cache')}")
        self.emit(f"{jc} = inttoptr i64 {jc_raw} to ptr")
        entry, pc, hit = self.fresh(), self.fresh(), self.fresh()
        self.emit(f"{entry} = getelementptr [2 x i64], ptr {jc}, i64 {idx}")
        self.emit(f"{pc} = load i64, ptr {entry}")
        self.emit(f"{hit} = icmp eq i64 {pc}, {target}")
        chain, miss = self.fresh("chain").lstrip("%"), self.fresh("miss").lstrip("%")
        self.branch(hit, chain, miss, likely=True)
        self.label(chain)
        fp, fn = self.fresh(), self.fresh()
        self.emit(f"{fp} = getelementptr i64, ptr {entry}, i64 1")
        self.emit(f"{fn} = load ptr, ptr {fp}")
        self.tail_call(fn, "jc_hits")
        self.label(miss)
        self.count("jc_misses")
        self.exit_with(str(int(ExitReason.MISS)))

    def lower_exit_at(self, op: Op) -> None:
        self.leave()
        self.retire(self.block.ninsns)
        self.store_field("rip", self.v(op.args[0]))
        self.exit_with(str(op.attrs['reason']))

    def lower_exit(self, op: Op) -> None:
        self.leave()
        self.retire(self.block.ninsns)
        self.store_field("rip", str(op.attrs["next_pc"]))
        self.exit_with(str(op.attrs['reason']))


def slot_name(function: str, index: int) -> str:
    """The global holding the chain target of a block function's index-th direct exit."""
    return f"{function}_slot{index}"


def lower_block(block: Block, name: str, hot_threshold: int | None = None) -> tuple[str, list[tuple[str, int]]]:
    """LLVM module text for a block as function `name` (datalayout left as a {datalayout} field),
    and its exit slots as (global name, target pc)."""
    lowering = BlockLowering(block, name, hot_threshold)
    text = lowering.module()
    return text, lowering.slots
