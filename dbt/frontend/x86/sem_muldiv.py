"""Multiply and divide lifters: mul imul (1/2/3 operands) div idiv (#DE)."""

LIFTERS = {}
