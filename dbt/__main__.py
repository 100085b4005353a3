"""`python -m dbt`: the same as the `dbt` command."""
import sys

from dbt.cli import main

sys.exit(main())
