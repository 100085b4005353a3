"""Backends: run IR blocks, by interpretation (interp.py) or as native code (llvm/)."""
