"""Fixtures shared by the test modules.

The shared helper functions live in shared_helpers.py, imported by name:
pytest's default "prepend" import mode puts tests/ on sys.path (which is
also how ``import reference`` works), but every rootdir-less conftest.py is
the module ``conftest``, so ``from conftest import ...`` would pick up
bench/conftest.py in a run over both folders.
"""

import pytest


@pytest.fixture
def pd():
    """pandas; the test is skipped where it is not installed."""
    return pytest.importorskip("pandas")
