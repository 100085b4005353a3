"""The GDB remote serial protocol's framing: `$payload#checksum`, acks, escapes, Ctrl-C.

A connection reads whole packets (acknowledging each with '+', or '-' for a
bad checksum) and sends payloads, escaping the bytes the protocol reserves.
It knows nothing of what packets mean (session.py does).
"""
import socket
import sys

INTERRUPT = b"\x03"              # gdb's Ctrl-C, sent outside any packet
ESCAPE = 0x7D
RESERVED = frozenset(b"#$}*")
RECV_SIZE = 4096


class ConnectionClosed(Exception):
    """gdb went away."""


def checksum(payload: bytes) -> bytes:
    return b"%02x" % (sum(payload) & 0xFF)


def escape(payload: bytes) -> bytes:
    out = bytearray()
    for byte in payload:
        if byte in RESERVED:
            out += bytes((ESCAPE, byte ^ 0x20))
        else:
            out.append(byte)
    return bytes(out)


def unescape(data: bytes) -> bytes:
    """The binary data of an X or vFile packet: '}' x stands for x ^ 0x20."""
    out, i = bytearray(), 0
    while i < len(data):
        if data[i] == ESCAPE and i + 1 < len(data):
            out.append(data[i + 1] ^ 0x20)
            i += 2
        else:
            out.append(data[i])
            i += 1
    return bytes(out)


def listen(port: int, log=sys.stderr) -> socket.socket:
    """A socket listening on localhost:port (0: any free port); says where on `log`."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", port))
    server.listen(1)
    print(f"dbt: waiting for gdb on localhost:{server.getsockname()[1]}", file=log, flush=True)
    return server


class Connection:
    """One gdb connection over a socket."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.buffer = b""
        self.acks = True                 # until gdb asks for QStartNoAckMode

    def _fill(self) -> None:
        try:
            data = self.sock.recv(RECV_SIZE)
        except (BlockingIOError, InterruptedError):
            raise
        except OSError as e:
            raise ConnectionClosed() from e
        if not data:
            raise ConnectionClosed()
        self.buffer += data

    def read_packet(self) -> bytes:
        """The next packet's payload (unescaped framing, not data), or INTERRUPT."""
        while True:
            start = -1
            while start < 0:
                if INTERRUPT in self.buffer and (b"$" not in self.buffer
                                                  or self.buffer.index(INTERRUPT) < self.buffer.index(b"$")):
                    self.buffer = self.buffer[self.buffer.index(INTERRUPT) + 1:]
                    return INTERRUPT
                start = self.buffer.find(b"$")
                if start < 0:
                    self.buffer = b""         # acks and noise between packets
                    self._fill()
            while self.buffer.find(b"#", start) < 0 or len(self.buffer) < self.buffer.index(b"#", start) + 3:
                self._fill()
            end = self.buffer.index(b"#", start)
            payload, sent = self.buffer[start + 1:end], self.buffer[end + 1:end + 3]
            self.buffer = self.buffer[end + 3:]
            if not self.acks:
                return payload
            good = sent.lower() == checksum(payload)
            try:
                self.sock.sendall(b"+" if good else b"-")   # on '-', gdb sends it again
            except OSError as e:
                raise ConnectionClosed() from e
            if good:
                return payload

    def send(self, payload: bytes | str) -> None:
        if isinstance(payload, str):
            payload = payload.encode()
        body = escape(payload)
        packet = b"$" + body + b"#" + checksum(body)
        while True:
            try:
                self.sock.sendall(packet)
            except OSError as e:
                raise ConnectionClosed() from e
            if not self.acks or self._ack():
                return

    def _ack(self) -> bool:
        """True on '+'; False on '-' (send again). A packet arriving meanwhile is kept."""
        while True:
            if not self.buffer:
                self._fill()
            head, self.buffer = self.buffer[:1], self.buffer[1:]
            if head == b"+":
                return True
            if head == b"-":
                return False
            if head in (b"$", INTERRUPT):
                self.buffer = head + self.buffer
                return True

    def poll_interrupt(self) -> bool:
        """Non-blocking: has gdb sent Ctrl-C while the guest runs?"""
        self.sock.setblocking(False)
        try:
            self._fill()
        except (BlockingIOError, InterruptedError):
            pass
        except ConnectionClosed:
            return True
        finally:
            self.sock.setblocking(True)
        if INTERRUPT in self.buffer:
            self.buffer = self.buffer.replace(INTERRUPT, b"", 1)
            return True
        return False

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass
