"""Root of the suite: the fixtures live in tests/fixtures/ (one home), helpers in tests/helpers.py."""
from __future__ import annotations

import pytest

pytest_plugins = [
    'tests.fixtures.session',
    'tests.fixtures.services',
    'tests.fixtures.state',
    'tests.fixtures.cinderlib',
    'tests.fixtures.unprivileged',
]

# older imports of the helpers from here keep working
from tests.helpers import (LOOP_OK, NO_LOOP_REASON, check_online_extend, device_size, read_at,  # noqa: F401,E402
                           write_at)
from tests.helpers import cleanup_backends as _cleanup_backends  # noqa: F401,E402
