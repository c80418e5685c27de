"""Moved to tests/factories/handins.py; this name stays for the benchmarks and older imports."""

from tests.factories.handins import *  # noqa: F401,F403
