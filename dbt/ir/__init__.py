"""The IR: ops as data, builder, printer, verifier, passes."""
