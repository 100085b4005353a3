"""How a syscall ends the guest process rather than returning to it, or asks to be restarted."""

ERESTARTSYS = 512      # the kernel's internal "interrupted by a signal; restart if SA_RESTART"


class ProcessExit(Exception):
    """exit/exit_group: the run ends with this status."""

    def __init__(self, status: int):
        super().__init__(f"exit {status}")
        self.status = status


class ProcessKilled(Exception):
    """The guest dies of a signal's default action (status 128 + signal), with an optional line."""

    def __init__(self, signal: int, message: str | None = None):
        super().__init__(f"killed by signal {signal}")
        self.signal, self.message = signal, message
