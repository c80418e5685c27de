"""Moved to tests/factories/integrity.py; this name stays for the benchmarks and older imports."""

from tests.factories.integrity import *  # noqa: F401,F403
from tests.factories.integrity import (_pick, _notebook, _result)  # noqa: F401
