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

#: left out of the fast tier (``bin/test -m "not slow"``): modules that start servers, browsers or a
#: guest kernel, run notebooks or cinderlib's own suite ...
SLOW_MODULES = ('tests/browser/', 'tests/ceph/', 'tests/pg/', 'tests/hosts/', 'tests/kernel/', 'tests/cinderlib/',
                'tests/notebook/test_notebooks.py', 'tests/notebook/test_launchers.py',
                # several processes, kill -9, hypothesis state machines, whole labs (5-25 s each, measured)
                'tests/state/test_durability.py', 'tests/state/test_conflicts.py', 'tests/state/test_cas_store.py',
                'tests/state/test_stateful.py', 'tests/notebook/test_perf_lab.py', 'tests/notebook/test_integrity.py',
                'tests/core/test_copy_progress.py', 'tests/core/test_backends.py::test_copy_between_backends')
#: ... and any test that asks for one of these (a server, another user, a venv with cinderlib)
SLOW_FIXTURES = {'postgresql_url', 'ceph_cluster', 'rbd_backend', 'unprivileged', 'cinderlib_python',
                 'cinderlib_source'}


def pytest_collection_modifyitems(config, items):
    for item in items:
        params = getattr(getattr(item, 'callspec', None), 'params', {})
        if (item.nodeid.startswith(SLOW_MODULES) or SLOW_FIXTURES & set(getattr(item, 'fixturenames', ()))
                or 'postgresql' in params.values()):
            item.add_marker(pytest.mark.slow)
