"""`dbt bench`: the benchmark set of benchmarks/programs/ run under native, qemu-x86_64, dbt jit
and dbt interp, interleaved, with a table, JSON and a PNG of the ratios.

programs.py builds the set, runners.py runs one program once, suite.py drives the
repetitions and checks every answer, report.py writes the results, command.py is the CLI.
"""
