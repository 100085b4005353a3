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
                self.cpu.exit_request = 1
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
        self.user_mode = user_mode
        self.last_stop = Stop("until")           # the guest starts stopped, as after a trap
        self.detached = False
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
                    self.conn.send(self.end_reply(stop))
                    self.conn.close()
                    return stop
                self.last_stop = stop
                self.conn.send(self.stop_reply(stop))
        except ConnectionClosed:
            return self.detach(executor)

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
        head, body = packet[:1], packet[1:]
        if head == "?":
            return self.stop_reply(self.last_stop)
        if head == "g":
            return self.regs.read_all().hex()
        if head == "G":
            return "OK" if self.regs.write_all(bytes.fromhex(body)) else ERROR
        if head == "p":
            num = int(body, 16)
            return self.regs.read(num).hex() if num < len(self.regs.regs) else ERROR
        if head == "P":
            num, value = body.split("=")
            ok = int(num, 16) < len(self.regs.regs) and self.regs.write(int(num, 16), bytes.fromhex(value))
            return "OK" if ok else ERROR
        if head == "m":
            addr, length = (int(x, 16) for x in body.split(","))
            data = self.target.read_memory(addr, min(length, PACKET_SIZE // 2))
            return ERROR if data is None else data.hex()
        if head in "MX" and head:
            where, _, data = body.partition(":")
            addr = int(where.split(",")[0], 16)
            raw = bytes.fromhex(data) if head == "M" else unescape(data.encode("latin-1"))
            return "OK" if self.target.write_memory(addr, raw) else ERROR
        if head in "cs" and head:
            return self.resume(head == "s", body)
        if head in "CS" and head:
            signo, _, addr = body.partition(";")
            return self.resume(head == "S", addr, int(signo, 16))
        if head in "Zz" and head:
            return self.breakpoint(head == "Z", body)
        if head == "k":
            self.conn.close()
            return Stop("killed", status=128 + signal.SIGKILL)
        if head == "D":
            self.conn.send("OK")
            raise ConnectionClosed()
        if head == "H" or packet == "T1" or packet.startswith("T"):
            return "OK"                           # one thread: every thread id is it
        if head == "v":
            return self.v_packet(body)
        if head == "q" or head == "Q":
            return self.query(packet)
        return ""

    def resume(self, step: bool, addr: str, signo: int = 0) -> Resume:
        if addr:
            self.emu.cpu.rip = int(addr, 16)
        return Resume(step, signo)

    def breakpoint(self, insert: bool, body: str) -> str:
        kind, addr, length = body.split(",")[:3]
        kind, addr, length = int(kind), int(addr, 16), int(length, 16)
        if kind == 0:
            (self.target.insert_breakpoint if insert else self.target.remove_breakpoint)(addr)
            return "OK"
        if kind in (WRITE, READ, ACCESS):
            (self.target.insert_watch if insert else self.target.remove_watch)(addr, length, kind)
            return "OK"
        return ""                                 # Z1 (hardware breakpoints): unsupported

    def v_packet(self, body: str):
        if body == "Cont?":
            return "vCont;c;C;s;S"
        if body.startswith("Cont;"):
            action = body[5:].split(";")[0].split(":")[0]    # one thread: the first action is ours
            if action[:1] in "cs" and action:
                return Resume(action[0] == "s")
            if action[:1] in "CS" and action:
                return Resume(action[0] == "S", int(action[1:3], 16))
            return ERROR
        if body.startswith("Kill"):
            self.conn.send("OK")
            return self.dispatch("k")
        return ""                                 # vMustReplyEmpty and the rest

    def query(self, packet: str) -> str:
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
