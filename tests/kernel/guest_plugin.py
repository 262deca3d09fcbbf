"""pytest plugin loaded with ``-p`` by the guest's pytest, before any conftest.

jsonschema (imported by taskflow when Cinder's volume manager loads) picks up the optional
``rfc3987_syntax`` when it is installed (Jupyter's ``jsonschema[format-nongpl]`` brings it);
importing it builds some 30 Lark parsers: about 1 s on the host, minutes under emulation.
Nothing here validates the 'iri' format, so in the guest jsonschema goes without it (its own
fallback when the module is missing; guest-init.sh does the same for every Python in the guest).

Each test's report is appended to ``$CINDER_NB_GUEST_RESULTS`` as it happens, with the guest's
uptime at the start of the run, after collection (``import cinder_nb`` and Cinder's core done)
and at each test's start, so the host can tell what ran and where the time went, even when the
run is cut short.
"""
import sys

sys.modules.setdefault('rfc3987_syntax', None)

import json  # noqa: E402
import os  # noqa: E402

#: where each test's outcome is appended as it happens (the host reads it even when the run is cut)
RESULTS = os.environ.get('CINDER_NB_GUEST_RESULTS')


def _uptime() -> float:
    with open('/proc/uptime') as fh:
        return float(fh.read().split()[0])


def _append(line: dict) -> None:
    if RESULTS:
        with open(RESULTS, 'a') as fh:
            fh.write(json.dumps(line) + '\n')


_append({'event': 'collecting (pytest started; import cinder_nb and Cinder)', 'uptime': _uptime()})


def pytest_collection_finish(session):
    _append({'event': 'collected', 'uptime': _uptime()})


def pytest_runtest_logstart(nodeid, location):
    _append({'event': f'start {nodeid}', 'uptime': _uptime()})


def pytest_runtest_logreport(report):
    if report.when == 'call' or report.outcome != 'passed':   # setup/teardown only when not passed
        if report.skipped and isinstance(report.longrepr, tuple):
            text = report.longrepr[2]
        else:
            text = report.longreprtext if report.outcome != 'passed' else ''
        _append({'nodeid': report.nodeid, 'when': report.when, 'outcome': report.outcome,
                 'text': text[-6000:], 'seconds': round(report.duration, 2), 'uptime': _uptime()})
