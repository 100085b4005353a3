"""x86-64 frontend: capstone decoding and table-driven lifting to IR."""
import functools
import importlib.util
from _blake2 import blake2b        # as dbt/backend/llvm/codecache.py: hashlib would load OpenSSL too


@functools.cache
def decoder_version() -> str:
    """The decoder's identity (translations, so the code cache, depend on it): a digest of
    capstone's package file, which names its version, read without importing capstone (20-30
    ms that a run the code cache serves entirely does not need)."""
    origin = importlib.util.find_spec("capstone").origin
    with open(origin, "rb") as package:
        return f"capstone={blake2b(package.read(), digest_size=8).hexdigest()}"
