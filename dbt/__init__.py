"""dbt: a dynamic binary translator for x86-64, in Python, with an LLVM JIT."""
