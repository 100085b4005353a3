"""Put tests/resource (fuzzgen, fuzz, tinyelf) and tests/ (oracle.*, guest.*) on sys.path."""
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent), str(HERE.parent / "guest")]
