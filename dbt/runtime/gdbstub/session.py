"""A gdb session: answers gdb's packets and drives the guest through a DebugTarget.

The executor hands its run to `GdbSession.run` (Executor.debugger): the guest
starts stopped, gdb inspects and resumes it, and each stop is reported with
the signal gdb expects (SIGTRAP for breakpoints, steps and watchpoints, the
guest's own signal for a fault, SIGINT for Ctrl-C); the end of the run is
reported as W (exit status) or X (killed by a signal). Packets dbt does not
implement get the empty reply, which tells gdb they are unsupported.
"""
import select
import signal
import threading

from dbt.runtime.executor import Stop
from dbt.runtime.gdbstub.packets import INTERRUPT, ConnectionClosed, unescape
from dbt.runtime.gdbstub.registers import RegisterFile
from dbt.runtime.gdbstub.target import ACCESS, DEBUG_REASONS, READ, WRITE, DebugTarget
from dbt.runtime.linux.process import SIGNAL_OF_VECTOR

PACKET_SIZE = 0x4000
WATCH_PREFIX = {WRITE: "watch", READ: "rwatch", ACCESS: "awatch"}
ERROR = "E01"
THREAD_ID = 1


class Resume:
    """What gdb asked for: continue or step, with a signal (0: none)."""

    def __init__(self, step: bool, signo: int = 0):
        self.step, self.signo = step, signo


class InterruptWatch:
    """While the guest runs: when gdb sends anything (Ctrl-C), ask the guest to stop at the
    next block entry (cpu.exit_request); the INTERRUPT exit then reads it (DebugServices)."""

    POLL = 0.05

    def __init__(self, sock, cpu):
        self.sock, self.cpu = sock, cpu
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        while not self.done.is_set():
            try:
                ready, _, _ = select.select([self.sock], [], [], self.POLL)
            except (OSError, ValueError):
                return
            if ready:                     # again until served: a machine may clear it
                self.cpu.request_exit()
                self.done.wait(self.POLL)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.done.set()
        self.thread.join()


class GdbSession:
    def __init__(self, conn, emu, user_mode: bool):
        self.conn, self.emu = conn, emu
        self.target = DebugTarget(emu, user_mode, conn.poll_interrupt)
        self.regs = RegisterFile(emu, user_mode)
        self.last_stop = Stop("step")            # the guest starts stopped, as after a trap
        emu.executor.debugger = self

    # -- the executor's hooks ------------------------------------------------------------
    def code_write(self, executor) -> Stop | None:
        return self.target.code_write(executor)

    def run(self, executor) -> Stop:
        """Serve gdb until the run ends; the result is the run's Stop, as executor.loop's."""
        try:
            while True:
                resume = self.serve()
                if isinstance(resume, Stop):
                    return resume
                with InterruptWatch(self.conn.sock, self.emu.cpu):
                    stop = self.target.resume(resume.step, resume.signo)
                if stop.reason not in DEBUG_REASONS:
                    return self.finish(stop)
                self.last_stop = stop
                self.conn.send(self.stop_reply(stop))
        except ConnectionClosed:
            return self.detach(executor)

    def finish(self, stop: Stop) -> Stop:
        """The run ended: tell gdb how (if it still listens) and hang up."""
        try:
            self.conn.send(self.end_reply(stop))
        except ConnectionClosed:
            pass
        self.conn.close()
        return stop

    def detach(self, executor) -> Stop:
        """gdb left (D or a closed connection): the guest runs on, undebugged."""
        self.conn.close()
        self.target.detach()
        executor.debugger = None
        return executor.loop()

    # -- replies ----------------------------------------------------------------------
    def signal_of(self, stop: Stop) -> int:
        if stop.reason == "debug_interrupt":
            return signal.SIGINT
        if stop.reason == "debug_fault":
            return SIGNAL_OF_VECTOR.get(stop.fault.vector, signal.SIGSEGV)
        return signal.SIGTRAP

    def stop_reply(self, stop: Stop) -> str:
        reply = f"T{self.signal_of(stop):02x}thread:{THREAD_ID:x};"
        hit = self.target.watch_hit
        if stop.reason == "watch" and hit is not None:
            reply += f"{WATCH_PREFIX[hit.kind]}:{hit.addr:x};"
        elif stop.reason == "until" and self.emu.cpu.rip in self.target.breakpoints:
            reply += "swbreak:;"
        return reply

    @staticmethod
    def end_reply(stop: Stop) -> str:
        """W (exit status) or X (killed by a signal) for a run that ended."""
        if stop.reason == "exit":
            return f"W{stop.status & 0xFF:02x}"
        if stop.reason == "signal" and stop.status and stop.status > 128:
            return f"X{stop.status - 128:02x}"
        if stop.reason == "fault":
            return f"X{SIGNAL_OF_VECTOR.get(stop.fault.vector, signal.SIGSEGV):02x}"
        return f"X{signal.SIGKILL:02x}"

    # -- the packet loop ------------------------------------------------------------------
    def serve(self):
        """Answer packets until gdb resumes the guest (a Resume) or ends the session (a Stop)."""
        while True:
            packet = self.conn.read_packet().decode("latin-1")
            if packet == INTERRUPT.decode():
                continue                          # already stopped
            try:
                answer = self.dispatch(packet)
            except (ValueError, IndexError):
                answer = ERROR                    # malformed packet
            if isinstance(answer, (Resume, Stop)):
                return answer
            if answer is not None:
                self.conn.send(answer)

    def dispatch(self, packet: str):
        """The reply to one packet: a string, None (already answered), a Resume or a Stop."""
        handler = self.HANDLERS.get(packet[:1])
        return "" if handler is None else handler(self, packet[0], packet[1:])

    # One handler per packet letter: (self, letter, rest of the packet) -> reply.
    def _stop_query(self, head: str, body: str) -> str:
        return self.stop_reply(self.last_stop)

    def _read_registers(self, head: str, body: str) -> str:
        return self.regs.read_all().hex()

    def _write_registers(self, head: str, body: str) -> str:
        return "OK" if self.regs.write_all(bytes.fromhex(body)) else ERROR

    def _read_register(self, head: str, body: str) -> str:
        num = int(body, 16)
        return self.regs.read(num).hex() if num < len(self.regs.regs) else ERROR

    def _write_register(self, head: str, body: str) -> str:
        num, value = body.split("=")
        ok = int(num, 16) < len(self.regs.regs) and self.regs.write(int(num, 16), bytes.fromhex(value))
        return "OK" if ok else ERROR

    def _read_memory(self, head: str, body: str) -> str:
        addr, length = (int(x, 16) for x in body.split(","))
        data = self.target.read_memory(addr, min(length, PACKET_SIZE // 2))
        return ERROR if data is None else data.hex()

    def _write_memory(self, head: str, body: str) -> str:
        """M addr,length:hex or X addr,length:binary."""
        where, _, data = body.partition(":")
        addr = int(where.split(",")[0], 16)
        raw = bytes.fromhex(data) if head == "M" else unescape(data.encode("latin-1"))
        return "OK" if self.target.write_memory(addr, raw) else ERROR

    def _resume(self, head: str, body: str) -> Resume:
        """c/s [addr], C/S sig[;addr]."""
        signo = 0
        if head in "CS":
            sig, _, body = body.partition(";")
            signo = int(sig, 16)
        if body:
            self.emu.cpu.rip = int(body, 16)
        return Resume(head in "sS", signo)

    def _breakpoint(self, head: str, body: str) -> str:
        """Z/z type,addr,kind: 0 software breakpoint, 2-4 write/read/access watchpoint."""
        kind, addr, length = (int(x, 16) for x in body.split(",")[:3])
        if kind == 0:
            (self.target.insert_breakpoint if head == "Z" else self.target.remove_breakpoint)(addr)
            return "OK"
        if kind in (WRITE, READ, ACCESS):
            (self.target.insert_watch if head == "Z" else self.target.remove_watch)(addr, length, kind)
            return "OK"
        return ""                                 # Z1 (hardware breakpoints): unsupported

    def _kill(self, head: str, body: str) -> Stop:
        self.conn.close()
        return Stop("killed", status=128 + signal.SIGKILL)

    def _detach(self, head: str, body: str) -> None:
        self.conn.send("OK")
        raise ConnectionClosed()

    def _one_thread(self, head: str, body: str) -> str:
        return "OK"                               # H (select thread), T (alive): there is one

    def _v_packet(self, head: str, body: str):
        if body == "Cont?":
            return "vCont;c;C;s;S"
        if body.startswith("Cont;"):
            action = body[5:].split(";")[0].split(":")[0]    # one thread: the first action is ours
            if action[:1] in ("c", "s", "C", "S"):
                return self._resume(action[0], action[1:])
            return ERROR
        if body.startswith("Kill"):
            self.conn.send("OK")
            return self._kill("k", "")
        return ""                                 # vMustReplyEmpty and the rest

    def _query(self, head: str, body: str) -> str | None:
        packet = head + body
        if packet.startswith("qSupported"):
            return f"PacketSize={PACKET_SIZE:x};qXfer:features:read+;swbreak+;QStartNoAckMode+;vContSupported+"
        if packet == "QStartNoAckMode":
            self.conn.send("OK")
            self.conn.acks = False
            return None
        if packet.startswith("qXfer:features:read:"):
            annex, _, span = packet[len("qXfer:features:read:"):].partition(":")
            if annex != "target.xml":
                return "E00"
            offset, length = (int(x, 16) for x in span.split(","))
            xml = self.regs.target_xml()
            chunk = xml[offset:offset + length]
            return ("m" if offset + length < len(xml) else "l") + chunk
        if packet == "qC":
            return f"QC{THREAD_ID:x}"
        if packet.startswith("qAttached"):
            return "1"
        if packet == "qfThreadInfo":
            return f"m{THREAD_ID:x}"
        if packet == "qsThreadInfo":
            return "l"
        return ""

    HANDLERS = {"?": _stop_query, "g": _read_registers, "G": _write_registers, "p": _read_register,
                "P": _write_register, "m": _read_memory, "M": _write_memory, "X": _write_memory,
                "c": _resume, "s": _resume, "C": _resume, "S": _resume, "Z": _breakpoint, "z": _breakpoint,
                "k": _kill, "D": _detach, "H": _one_thread, "T": _one_thread, "v": _v_packet,
                "q": _query, "Q": _query}
