"""The LLVM backend: IR text lowering, MCJIT, chaining."""
