"""Suite-wide setup: the JIT's persistent code cache goes to a fresh directory for this
session, so a run of the suite neither reads nor fills the user's ~/.cache/dbt (set
DBT_CACHE=off or DBT_CACHE=on to run the suite with the cache forced off or on)."""
import os
import shutil
import tempfile


def pytest_configure(config):
    config.dbt_cache_home = tempfile.mkdtemp(prefix="dbt-test-cache-")
    os.environ["XDG_CACHE_HOME"] = config.dbt_cache_home


def pytest_unconfigure(config):
    shutil.rmtree(config.dbt_cache_home, ignore_errors=True)
