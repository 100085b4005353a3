"""`python -m dbt`: the same as the `dbt` command."""
from dbt.cli import entry

entry()
