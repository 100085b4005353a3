"""x86-64 frontend: capstone decoding and table-driven lifting to IR."""
