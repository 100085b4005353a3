"""Frontends: guest machine code to IR."""
