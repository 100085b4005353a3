"""Linux user mode: ELF loading, process start-up, syscalls."""
