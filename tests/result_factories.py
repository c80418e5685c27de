"""Moved to tests/factories/results.py; this name stays for the benchmarks and older imports."""

from tests.factories.results import *  # noqa: F401,F403
from tests.factories.results import (_hw2)  # noqa: F401
