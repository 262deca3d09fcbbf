"""Makes the PostgreSQL fixture available to the several-hosts tests."""
from tests.pg.server import postgresql_url  # noqa: F401
