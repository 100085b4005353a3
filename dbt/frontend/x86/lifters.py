"""The lifter table: capstone instruction id -> lifter, merged from the sem_* family modules.

Each family module exports its own LIFTERS dict; adding an instruction is one
function and one row in its family's table.
"""
from dbt.frontend.x86 import (sem_alu, sem_bits, sem_branch, sem_flags, sem_move, sem_muldiv,
                              sem_privileged, sem_shift, sem_sse_float, sem_sse_int, sem_sse_move,
                              sem_string, sem_system, sem_x87, sem_x87_exact, sem_x87_transcendental,
                              sem_xchg)


def _merge(*modules) -> dict:
    table = {}
    for module in modules:
        overlap = table.keys() & module.LIFTERS.keys()
        if overlap:
            raise RuntimeError(f"{module.__name__} redefines lifters {sorted(overlap)}")
        table.update(module.LIFTERS)
    return table


LIFTERS = _merge(sem_move, sem_alu, sem_branch, sem_system, sem_shift, sem_muldiv,
                 sem_bits, sem_flags, sem_xchg, sem_string, sem_privileged, sem_sse_move,
                 sem_sse_int, sem_sse_float, sem_x87, sem_x87_exact, sem_x87_transcendental)
