"""The PostgreSQL fixture itself: a real server on 127.0.0.1, one empty database per test."""
from __future__ import annotations

import psycopg
import pytest

pytestmark = pytest.mark.postgresql


def test_server_listens_on_loopback_and_gives_empty_databases(postgresql_url):
    with psycopg.connect(postgresql_url) as conn:
        addr = conn.execute('SELECT inet_server_addr()::text').fetchone()[0]
        tables = conn.execute("SELECT count(*) FROM information_schema.tables "
                              "WHERE table_schema = 'public'").fetchone()[0]
        version = conn.execute('SHOW server_version').fetchone()[0]
    assert addr.split('/')[0] == '127.0.0.1'
    assert tables == 0
    assert int(version.split('.')[0]) >= 13
