"""`python -m dbt`: the same as the `dbt` command (whose bytecode is kept, as dbt/cli.py says)."""
import sys

sys.dont_write_bytecode = False           # before dbt.cli loads: its own bytecode is kept too

from dbt.cli import entry

entry()
