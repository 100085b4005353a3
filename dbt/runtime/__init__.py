"""Runtime: CPU state, guest memory, block cache, executor, and the services behind exits."""
