"""Guest-kernel tests: modules ``tests/kernel/guest/guest_*.py`` run INSIDE a qemu guest.

On the host, each guest module is collected as a ``GuestFile`` whose items carry the node ids
that pytest itself collects from it (``--collect-only`` in a subprocess). The first item to run
boots one guest (``guest.Guest``), runs every selected guest test in ONE pytest process there
(cinder is imported once: 15-21 s under TCG), powers the guest off, and reads the JUnit XML
the guest wrote to the shared transfer directory. Each host item then passes, fails (with the
guest's report) or skips (with the guest's reason) as its test did in the guest. When qemu or
the kernel cannot be had, every item skips and says why.
"""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import json

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
GUEST_DIR = os.path.join(HERE, 'guest')
IN_GUEST = os.environ.get('CINDER_NB_IN_GUEST') == '1'
COLLECTING = os.environ.get('CINDER_NB_GUEST_COLLECT') == '1'
GUEST_PYTEST = ['-p', 'no:cacheprovider', '-p', 'no:hypothesispytest', '-p', 'no:anyio', '-o', 'python_files=guest_*.py', '-o', 'addopts=']
GUEST_RUN_TIMEOUT = float(os.environ.get('CINDER_NB_GUEST_TIMEOUT', '1500'))   # boot + all guest tests
#: CINDER_NB_GUEST_TESTS: '1' boots the guest when the first guest test is reached; 'background'
#: boots it as soon as collection is done, so the guest (qemu) runs alongside the host's tests and
#: its results are waited for when the guest tests are reached; anything else skips them, saying so
MODE = os.environ.get('CINDER_NB_GUEST_TESTS', '0')
OPT_IN = MODE in ('1', 'background')
_RUN_LOCK = threading.Lock()
GUEST_TEST_TIMEOUT = float(os.environ.get('CINDER_NB_GUEST_TEST_TIMEOUT', '420'))   # one guest test (pytest-timeout there): a hang fails it, the run goes on
ARTIFACTS = os.path.join(REPO, 'test-artifacts')


def pytest_collect_file(file_path, parent):
    if IN_GUEST or COLLECTING:
        return None   # in the guest (and while listing), guest_*.py are plain pytest modules
    if file_path.suffix == '.py' and file_path.name.startswith('guest_') and str(file_path.parent) == GUEST_DIR:
        return GuestFile.from_parent(parent, path=file_path)
    return None


def _guest_node_ids(config) -> list[str]:
    """The node ids pytest collects from tests/kernel/guest (listed once per session)."""
    cached = getattr(config, '_cnb_guest_ids', None)
    if cached is not None:
        return cached
    env = dict(os.environ, CINDER_NB_GUEST_COLLECT='1')
    env.pop('PYTHONDONTWRITEBYTECODE', None)   # pytest's assertion-rewritten .pyc, for the guest to reuse
    proc = subprocess.run([sys.executable, '-m', 'pytest', '--collect-only', '-q', *GUEST_PYTEST,
                           os.path.relpath(GUEST_DIR, REPO)], cwd=REPO, env=env, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300)
    ids = [line.strip() for line in proc.stdout.splitlines() if '::' in line and not line.startswith(' ')]
    if proc.returncode not in (0, 5) or not ids:
        raise RuntimeError(f'listing the guest tests failed ({proc.returncode}):\n{proc.stdout[-3000:]}')
    config._cnb_guest_ids = ids
    return ids


class GuestFile(pytest.File):
    def collect(self):
        rel = os.path.relpath(str(self.path), REPO)
        for nodeid in _guest_node_ids(self.config):
            path, _, name = nodeid.partition('::')
            if path == rel:
                item = GuestItem.from_parent(self, name=name)
                item.guest_nodeid = nodeid
                item.add_marker(pytest.mark.timeout(GUEST_RUN_TIMEOUT + 300))
                yield item


class GuestTestFailed(Exception):
    pass


class GuestItem(pytest.Item):
    guest_nodeid = ''

    def runtest(self):
        run = _guest_run(self.session)
        if run.unavailable:
            pytest.skip(f'guest kernel unavailable: {run.unavailable}')
        result = run.results.get(self.guest_nodeid)
        if result is None:
            raise GuestTestFailed(f'the guest run reported nothing for {self.guest_nodeid} '
                                  f'(pytest rc {run.rc}); its output ends with:\n{run.output[-4000:]}')
        outcome, text, seconds = result
        self.user_properties.append(('guest_seconds', seconds))
        if outcome == 'skipped':
            pytest.skip(f'[in the guest] {text}')
        if outcome == 'failed':
            raise GuestTestFailed(text)

    def repr_failure(self, excinfo):
        if isinstance(excinfo.value, GuestTestFailed):
            return f'[in the guest] {excinfo.value}'
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return self.path, None, f'[guest] {self.name}'


class GuestRun:
    """The one guest session: boot, pytest inside, poweroff; results by guest node id."""

    def __init__(self):
        self.unavailable: str | None = None
        self.results: dict[str, tuple[str, str, float]] = {}
        self.output = ''
        self.rc = None
        self.timings: dict[str, float] = {}
        self.walls: list[tuple[str, float]] = []
        self.load = (0.0, 0.0)
        self.vm = None


def pytest_collection_finish(session):
    session._cnb_guest_selected = [i.guest_nodeid for i in session.items if isinstance(i, GuestItem)]
    if MODE == 'background' and session._cnb_guest_selected and not session.config.option.collectonly:
        thread = threading.Thread(target=_guest_run, args=(session,), name='cinder_nb-guest', daemon=True)
        session._cnb_guest_thread = thread
        thread.start()


def pytest_sessionfinish(session):
    """A session ending before the guest run did (-x, Ctrl-C) powers the guest off."""
    thread = getattr(session, '_cnb_guest_thread', None)
    if thread is not None and thread.is_alive():
        run = getattr(session, '_cnb_guest_run', None)
        if run is not None and run.vm is not None:
            run.vm.close()
        thread.join(120)


def _guest_run(session) -> GuestRun:
    with _RUN_LOCK:   # the background thread and the first guest test: one run, the other waits
        run = getattr(session, '_cnb_guest_run', None)
        if run is not None:
            return run
        run = session._cnb_guest_run = session.config._cnb_guest_run = GuestRun()
        _run_guest(session, run)
        return run


def _run_guest(session, run: GuestRun) -> None:
    if not OPT_IN:
        run.unavailable = (f'switched off (CINDER_NB_GUEST_TESTS={MODE!r}; the switch is in .ci/run): =1 or '
                           '=background runs them, see docs/kernel-tests.md for what they cost')
        return
    from tests.kernel.guest_vm import Guest as VM, GuestUnavailable, precompile
    t0 = time.monotonic()
    load0 = os.getloadavg()[0]
    end_uptime = None
    ceph = None
    if any(os.path.basename(n.split('::')[0]) == 'guest_rbd.py' for n in session._cnb_guest_selected):
        from tests.kernel.guest_ceph import GuestCeph   # a host cluster the guest reaches (guest_rbd.py)
        ceph = GuestCeph()
        ceph.start_async()   # alongside the precompile and the boot
    try:
        run.timings['precompile on host'] = precompile()
        vm = run.vm = VM(timeout=GUEST_RUN_TIMEOUT, netdev_extra=ceph.guestfwd() if ceph else '')
    except GuestUnavailable as exc:
        run.unavailable = str(exc)
        if ceph is not None:
            ceph.stop()
        return
    try:
        try:
            vm.start()
        except GuestUnavailable as exc:
            run.unavailable = str(exc)
            return
        run.timings['boot'] = vm.boot_seconds
        if ceph is not None:
            t1 = time.monotonic()
            run.timings.update(ceph.hand_over(vm.xfer))
            run.timings['waited for the ceph cluster after boot'] = time.monotonic() - t1
        run.timings['qemu CPU during boot'] = vm.cpu_seconds()
        argv = [os.path.join(REPO, '.venv', 'bin', 'python') if os.path.exists(os.path.join(REPO, '.venv', 'bin', 'python'))
                else sys.executable, '-m', 'pytest', *GUEST_PYTEST, '-p', 'tests.kernel.guest_plugin', '-rA', '--durations=0',
                '--timeout', str(GUEST_TEST_TIMEOUT),
                *session._cnb_guest_selected]
        t1 = time.monotonic()
        answer = vm.run(argv, timeout=GUEST_RUN_TIMEOUT, cwd=REPO,
                        env={'CINDER_NB_IN_GUEST': '1', 'CINDER_NB_GUEST_RESULTS': '/xfer/results.jsonl',
                             'CINDER_NB_GUEST_CEPH': '/xfer/ceph/ports.json' if ceph else ''})
        run.timings['pytest in guest'] = time.monotonic() - t1
        run.rc, run.output = answer['rc'], answer['output']
        end_uptime = float(vm.run(['cat', '/proc/uptime'], timeout=30)['output'].split()[0])
        run.timings['qemu CPU in all'] = vm.cpu_seconds()
    except Exception as exc:   # the guest died or the channel broke: every item fails with why
        run.output += f'\n[host] guest run failed: {exc!r}\nconsole:\n{vm.console_tail()}'
    finally:
        os.makedirs(ARTIFACTS, exist_ok=True)
        with open(os.path.join(ARTIFACTS, 'guest-pytest.log'), 'w') as fh:
            fh.write(run.output)
            fh.write('\n---- guest console ----\n' + vm.console_tail(20000))
        run.results, events = _read_results(os.path.join(vm.xfer, 'results.jsonl'))
        run.walls = _wall_times(events, end_uptime)
        try:
            vm.close()
        finally:
            if ceph is not None:
                ceph.stop()   # daemons and their directory; the guest's mappings ended with it
        run.timings['total'] = time.monotonic() - t0
        run.load = (load0, os.getloadavg()[0])


def _read_results(path: str) -> tuple[dict[str, tuple[str, str, float]], list[tuple[str, float]]]:
    """(guest node id -> (outcome, text, seconds), [(event, guest uptime)]) from guest_plugin.py's lines."""
    results: dict[str, tuple[str, str, float]] = {}
    events: list[tuple[str, float]] = []
    try:
        with open(path) as fh:
            lines = [json.loads(line) for line in fh if line.strip()]
    except (OSError, ValueError):
        return results, events
    for rep in lines:
        if 'event' in rep:
            events.append((rep['event'], rep['uptime']))
            continue
        outcome, text, seconds = rep['outcome'], rep['text'], rep['seconds']
        if rep['when'] != 'call' and outcome == 'failed':
            text = f'[{rep["when"]}] {text}'
        previous = results.get(rep['nodeid'])
        if previous is not None:
            if previous[0] == 'failed' and outcome != 'failed':
                continue
            if outcome == 'failed' and previous[0] == 'failed':
                text = previous[1] + '\n' + text
            seconds += previous[2]
        results[rep['nodeid']] = (outcome, text, seconds)
        events.append((f'end {rep["nodeid"]} {rep["when"]}', rep.get('uptime', 0.0)))
    return results, events


def _wall_times(events: list[tuple[str, float]], end: float | None) -> list[tuple[str, float]]:
    """Each step's wall time in the guest: from one event (start, collection, test start) to the next."""
    marks = [(name, t) for name, t in events if not name.startswith('end ')]
    if end is not None:
        marks.append(('end', end))
    return [(name, later - t) for (name, t), (_, later) in zip(marks, marks[1:])]


def pytest_terminal_summary(terminalreporter):
    """Print the guest run in CI's log: boot, import, each test's wall time and outcome."""
    run = getattr(terminalreporter.config, '_cnb_guest_run', None)
    if run is None:
        return
    tr = terminalreporter
    tr.section('guest kernel run')
    if run.unavailable:
        tr.write_line(f'not run: {run.unavailable}')
        return
    tr.write_line('timings: ' + ', '.join(f'{k} {v:.1f} s' for k, v in run.timings.items()) +
                  f'; host load average {run.load[0]:.2f} -> {run.load[1]:.2f} on {os.cpu_count()} cores')
    for name, seconds in run.walls:
        outcome = run.results.get(name[len('start '):], ('', '', 0))[0] if name.startswith('start ') else ''
        tr.write_line(f'{seconds:8.1f} s  {name} {outcome}')
