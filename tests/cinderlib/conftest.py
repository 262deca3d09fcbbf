"""Fixtures for the cinderlib compatibility tests."""
from __future__ import annotations

import pytest

from tests.cinderlib.sdist import cinderlib_sdist


@pytest.fixture(scope='session')
def cinderlib_source():
    """The unpacked cinderlib 5.2.0 sdist (downloaded once into the test cache)."""
    path, why = cinderlib_sdist()
    if path is None:
        pytest.skip(why)
    return path
from tests.pg.server import postgresql_url  # noqa: F401,E402


@pytest.fixture(scope='session')
def cinderlib_python():
    """Python of a venv with the real cinderlib 5.2.0 (built once, cached)."""
    from tests.cinderlib.legacy import cinderlib_python as build
    python, why = build()
    if python is None:
        pytest.skip(why)
    return python
