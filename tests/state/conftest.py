"""Fixtures of the state tests: persistence back-ends by name (PostgreSQL from tests.pg)."""
from __future__ import annotations

import pytest

from tests.pg.server import postgresql_url  # noqa: F401


@pytest.fixture
def persistence_config(request, tmp_path):
    """A persistence_config value for the back-end named by the test's parameter."""
    kind = request.param
    if kind == 'memory':
        return 'memory'
    if kind == 'sqlite':
        return {'storage': 'sqlite', 'path': str(tmp_path / 'state.db')}
    if kind == 'postgresql':
        return request.getfixturevalue('postgresql_url')
    raise AssertionError(kind)
