"""Run cinderlib 5.2.0's own functional suite, unmodified, with ``cinderlib`` = cinder_nb.cinderlib.

``python -m tests.cinderlib.run_suite SDIST_DIR CONFIG_YAML JUNIT_XML [pytest args]``: a fresh
process whose ``cinderlib`` module is cinder_nb's layer; only the sdist's ``cinderlib.tests``
package is taken from the download (cinder_nb.cinderlib's package path is extended with it
in this process only).
"""
from __future__ import annotations

import os
import sys


def main(argv: list[str]) -> int:
    sdist, config, junit, *extra = argv
    import cinder_nb.cinderlib as layer
    layer.__path__.append(os.path.join(sdist, 'cinderlib'))   # for cinderlib.tests.* only
    sys.modules['cinderlib'] = layer
    os.environ['CL_FTEST_CFG'] = config
    if os.geteuid() == 0:
        os.environ.setdefault('CL_FTEST_ROOT_HELPER', 'env')   # root needs no sudo
    import pytest
    ini = os.path.join(os.path.dirname(junit), 'pytest.ini')
    with open(ini, 'w') as f:
        f.write('[pytest]\n')
    return pytest.main(['-c', ini, '--rootdir', os.path.dirname(junit), '-p', 'no:cacheprovider',
                        '-q', '-rfE', f'--junitxml={junit}', '-o', 'junit_family=xunit2',
                        os.path.join(sdist, 'cinderlib', 'tests', 'functional', 'test_basic.py'), *extra])


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
