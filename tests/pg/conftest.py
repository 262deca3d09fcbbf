"""Makes the PostgreSQL fixture available to the tests in this directory."""
from tests.pg.server import postgresql_url  # noqa: F401
