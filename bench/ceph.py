"""Workload 5: Ceph — cinder_nb on Cinder's RBDDriver against a real cluster, next to raw librbd.

Starts its own single-node cluster with tests/ceph/micro-ceph.sh (one mon, one mgr,
one memstore OSD, cephx, pool ``volumes``) in its own directory on free ports, and
reports:

* the wall-clock start time of the cluster and the RSS (VmRSS) of each daemon
  right after start and after the workload, plus this process's peak RSS;
* per-operation latency (median, p90) over N items of the lifecycle
  create(1 GiB) → extend(2) → snapshot → clone → volume from snapshot →
  connect → disconnect → attach (local: rbd-fuse + loop device) → detach →
  delete the from-snapshot volume → delete the clone → delete snapshot → delete volume,
  through cinder_nb (``cnb.Backend(volume_driver='cinder.volume.drivers.rbd.RBDDriver')``).

Two references run the same storage operations with the librbd Python bindings:

* raw librbd: ONE RADOS connection and ioctx opened before the run and reused; each
  operation is only the librbd calls that do the work, with the image features and
  object order Cinder uses (``rbd_default_features`` of the cluster, order 22):
  ``RBD.create``; ``Image.resize``; ``create_snap`` + ``protect_snap``; for a clone of a
  volume, ``create_snap`` + ``protect_snap`` of ``<clone>.clone_snap`` + ``RBD.clone``
  (what Cinder does); ``RBD.clone`` from the snapshot; ``RBD.remove`` (for the clone
  also ``unprotect_snap`` + ``remove_snap`` of its ``.clone_snap``, as Cinder does);
  ``unprotect_snap`` + ``remove_snap``. It does NOT include the RADOS connections,
  the extra image opens and look-ups Cinder's driver makes (stripe unit, clone depth,
  snapshot and parent listings before a delete), Cinder's OVOs, cinder_nb's state
  and locks, nor connect/attach (no librbd equivalent: 'n/a').
* Cinder-pattern raw: the same librbd calls, opening and shutting down a new RADOS
  connection (``Rados(...).connect()`` + ``open_ioctx``) as often as the driver does:
  one per RADOSClient / RBDVolumeProxy in cinder/volume/drivers/rbd.py, i.e. one per
  operation, and two for a volume from a snapshot, a snapshot delete and a volume delete,
  because _delete_volume passes ``ioctx=`` without ``client=`` to RBDVolumeProxy, which
  then connects anew (cinder_nb's patch around _delete_volume passes both). For connect it runs the ``ceph mon dump`` subprocess of the driver's
  ``initialize_connection``. The driver's connections and subprocesses are counted
  (``_connect_to_rados`` and ``_execute`` wrapped on the driver instance) and shown
  next to this side's, so the two can be compared.

Snapshot create/delete (and a volume clone, whose driver makes and drops a
``.clone_snap``) wait for the mon to allocate/release a self-managed snapshot id, which
it batches every ``paxos_propose_interval`` (Ceph's default 1 s, kept by micro-ceph):
those rows (marked *) are bound by that timer on every side.
``--paxos-propose-interval`` sets it on this run's mon to look past it.

The three sides alternate item by item and operation by operation, the order rotated
on every item, so machine noise hits all of them alike. Untimed warm-up items run first.
Needs root (Ceph daemons, rbd-fuse, loop devices). Writes bench/results/ceph.md and ceph.json.

Usage: sudo .venv/bin/python bench/ceph.py [--n 12] [--warmup 1] [--ceph-dir DIR] [--keep]
                                           [--out-dir DIR] [--paxos-propose-interval SECONDS]
"""
from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import json
import math
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from typing import Any, Callable, Iterator

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import GiB, REPO, RESULTS_DIR, clock, machine_info, maxrss_mib, md_table, median, quiet_warnings  # noqa: E402

MICRO_CEPH = os.path.join(REPO, 'tests', 'ceph', 'micro-ceph.sh')
FUSE_ROOT = os.path.join(tempfile.gettempdir(), 'cinder_nb-rbd-fuse')
DAEMONS = {'mon': 'mon.a', 'mgr': 'mgr.x', 'osd': 'osd.0'}
CONNECTOR = {'host': 'bench', 'ip': '127.0.0.1', 'initiator': 'iqn.2026-11.bench:1'}
ORDER = 22   # Cinder: log2(rbd_store_chunk_size 4 MiB)
OPS = ('create', 'extend', 'snapshot', 'clone', 'from_snapshot', 'connect', 'disconnect', 'attach',
       'detach', 'delete_from_snapshot', 'delete_clone', 'delete_snapshot', 'delete_volume', 'rados_connect')
LABELS = {'create': 'create_volume(1)', 'extend': 'extend to 2', 'snapshot': 'create_snapshot',
          'clone': 'clone (of the volume)', 'from_snapshot': 'volume from snapshot', 'connect': 'connect',
          'disconnect': 'disconnect', 'attach': 'attach (rbd-fuse + loop)', 'detach': 'detach',
          'delete_from_snapshot': 'delete volume from snapshot', 'delete_clone': 'delete clone',
          'delete_snapshot': 'delete snapshot', 'delete_volume': 'delete volume',
          'rados_connect': '(one RADOS connect + open_ioctx + shutdown)'}
#: the driver entry points cinder_nb calls for these operations (timed: 'in driver')
DRIVER_CALLS = ('create_volume', 'extend_volume', 'create_snapshot', 'create_cloned_volume',
                'create_volume_from_snapshot', 'create_export', 'initialize_connection', 'terminate_connection',
                'remove_export', 'delete_volume', 'delete_snapshot')
#: ops whose librbd calls allocate/release a self-managed snapshot id: they wait for a mon map update
MON_BOUND = ('snapshot', 'clone', 'delete_clone', 'delete_snapshot')


# ---------------------------------------------------------------------------- cluster
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def micro_ceph(ceph_dir: str, action: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(['bash', MICRO_CEPH, action], capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, CEPH_DIR=ceph_dir, **env))


def start_cluster(ceph_dir: str) -> dict:
    """Start (or reuse, after --keep) the cluster; its env values, start seconds and ports."""
    reused = micro_ceph(ceph_dir, 'status').returncode == 0
    ports = {'CEPH_MON_PORT': str(free_port()), 'CEPH_MON_V2_PORT': str(free_port())}
    t0 = time.monotonic()
    result = micro_ceph(ceph_dir, 'start', **ports)
    seconds = time.monotonic() - t0
    if result.returncode != 0:
        raise SystemExit(f'micro-ceph.sh start failed:\n{(result.stderr or result.stdout).strip()[-1500:]}')
    values = dict(line[len('export '):].split('=', 1) for line in result.stdout.splitlines()
                  if line.startswith('export '))
    return {'env': values, 'start_s': seconds, 'reused': reused, 'ports': ports}


def daemon_rss_mib(ceph_dir: str) -> dict[str, float]:
    """VmRSS of mon, mgr and osd (from their pid files in ceph_dir), in MiB."""
    out = {}
    for short, name in DAEMONS.items():
        try:
            with open(os.path.join(ceph_dir, 'run', f'{name}.pid')) as f:
                pid = int(f.read().strip())
            with open(f'/proc/{pid}/status') as f:
                kib = next(int(line.split()[1]) for line in f if line.startswith('VmRSS:'))
            out[short] = kib / 1024
        except (OSError, ValueError, StopIteration):
            out[short] = float('nan')
    out['total'] = sum(out.values())
    return out


def mon_config(ceph_dir: str, key: str, value: str | None = None) -> str:
    """Get (or set, then get) a config value of our mon through its admin socket."""
    asok = ['ceph', '--admin-daemon', os.path.join(ceph_dir, 'run', 'mon.a.asok'), 'config']
    if value is not None:
        subprocess.run(asok + ['set', key, value], check=True, capture_output=True, timeout=30)
    out = subprocess.run(asok + ['get', key], check=True, capture_output=True, text=True, timeout=30).stdout
    return json.loads(out)[key]


def release_mounts(images: set[str]) -> None:
    """Detach loops and unmount the rbd-fuse mounts of OUR images only (others may be a test run's)."""
    for image in images:
        mnt = os.path.join(FUSE_ROOT, f'volumes--{image}')
        if not os.path.ismount(mnt):
            continue
        loops = subprocess.run(['losetup', '-j', os.path.join(mnt, image), '-O', 'NAME', '-n'],
                               capture_output=True, text=True).stdout.split()
        for loop in loops:
            subprocess.run(['losetup', '-d', loop], capture_output=True)
        subprocess.run(['fusermount', '-u', mnt], capture_output=True)


# ---------------------------------------------------------------------------- the three sides
State = dict[str, Any]


class LibSide:
    """cinder_nb on Cinder's RBDDriver; counts the driver's RADOS connections and subprocesses
    and the time spent inside the driver's entry points (wrapped on the driver instance)."""

    def __init__(self, backend: Any) -> None:
        self.backend = backend
        self.images: set[str] = set()
        self.connects = self.execs = 0
        self.driver_s = 0.0
        driver = backend.driver

        def wrap(name: str, on_call: Callable[[float], None]) -> None:
            inner = getattr(driver, name)

            def wrapper(*args: Any, **kwargs: Any) -> Any:
                t0 = clock()
                try:
                    return inner(*args, **kwargs)
                finally:
                    on_call(clock() - t0)
            setattr(driver, name, wrapper)

        def add_connect(_: float) -> None:
            self.connects += 1

        def add_exec(_: float) -> None:
            self.execs += 1

        def add_driver(seconds: float) -> None:
            self.driver_s += seconds
        wrap('_connect_to_rados', add_connect)
        wrap('_execute', add_exec)
        for name in DRIVER_CALLS:
            wrap(name, add_driver)

    def _vol(self, vol: Any) -> Any:
        self.images.add(f'volume-{vol.id}')
        return vol

    def create(self, st: State) -> None:
        st['vol'] = self._vol(self.backend.create_volume(1))

    def extend(self, st: State) -> None:
        st['vol'].extend(2)

    def snapshot(self, st: State) -> None:
        st['snap'] = st['vol'].create_snapshot()

    def clone(self, st: State) -> None:
        st['clone'] = self._vol(st['vol'].clone())

    def from_snapshot(self, st: State) -> None:
        st['child'] = self._vol(st['snap'].create_volume())

    def connect(self, st: State) -> None:
        st['conn'] = st['vol'].connect(CONNECTOR)

    def disconnect(self, st: State) -> None:
        st['conn'].disconnect()

    def attach(self, st: State) -> None:
        st['vol'].attach()

    def detach(self, st: State) -> None:
        st['vol'].detach()

    def delete_from_snapshot(self, st: State) -> None:
        st['child'].delete()

    def delete_clone(self, st: State) -> None:
        st['clone'].delete()

    def delete_snapshot(self, st: State) -> None:
        st['snap'].delete()

    def delete_volume(self, st: State) -> None:
        st['vol'].delete()


class RawSide:
    """librbd calls; conn() gives the ioctx: the shared one, or a new RADOS connection per call."""

    def __init__(self, rados: Any, rbd: Any, env: dict, features: int, shared_ioctx: Any | None) -> None:
        self.rados, self.rbd, self.env, self.features = rados, rbd, env, features
        self.shared = shared_ioctx

    @contextlib.contextmanager
    def conn(self) -> Iterator[Any]:
        if self.shared is not None:
            yield self.shared
            return
        cluster = self.rados.Rados(conffile=self.env['CINDER_NB_CEPH_CONF'], rados_id=self.env['CINDER_NB_CEPH_USER'],
                                   conf={'keyring': self.env['CINDER_NB_CEPH_KEYRING']})
        cluster.connect()
        try:
            ioctx = cluster.open_ioctx(self.env['CINDER_NB_CEPH_POOL'])
            try:
                yield ioctx
            finally:
                ioctx.close()
        finally:
            cluster.shutdown()

    @staticmethod
    def _name(kind: str = 'volume') -> str:
        return f'{kind}-{uuid.uuid4()}'

    def create(self, st: State) -> None:
        st['vol'] = self._name()
        with self.conn() as io:
            self.rbd.RBD().create(io, st['vol'], GiB, ORDER, old_format=False, features=self.features)

    def extend(self, st: State) -> None:
        with self.conn() as io, self.rbd.Image(io, st['vol']) as image:
            image.resize(2 * GiB)

    def snapshot(self, st: State) -> None:
        st['snap'] = self._name('snapshot')
        with self.conn() as io, self.rbd.Image(io, st['vol']) as image:
            image.create_snap(st['snap'])
            image.protect_snap(st['snap'])

    def clone(self, st: State) -> None:
        st['clone'] = self._name()
        clone_snap = f"{st['clone']}.clone_snap"
        with self.conn() as io, self.rbd.Image(io, st['vol']) as image:
            image.create_snap(clone_snap)
            image.protect_snap(clone_snap)
            self.rbd.RBD().clone(io, st['vol'], clone_snap, io, st['clone'], features=self.features)

    def from_snapshot(self, st: State) -> None:
        st['child'] = self._name()
        with self.conn() as src, self.conn() as dst:   # Cinder's _clone: two RADOSClients
            self.rbd.RBD().clone(src, st['vol'], st['snap'], dst, st['child'], features=self.features, order=ORDER)

    def delete_from_snapshot(self, st: State) -> None:
        with self.conn() as io:
            self.rbd.RBD().remove(io, st['child'])

    def delete_clone(self, st: State) -> None:
        with self.conn() as io:
            self.rbd.RBD().remove(io, st['clone'])
            with self.rbd.Image(io, st['vol']) as parent:
                parent.unprotect_snap(f"{st['clone']}.clone_snap")
                parent.remove_snap(f"{st['clone']}.clone_snap")

    def delete_snapshot(self, st: State) -> None:
        with self.conn() as io, self.rbd.Image(io, st['vol']) as image:   # Cinder: unprotect ...
            image.unprotect_snap(st['snap'])
        with self.conn() as io, self.rbd.Image(io, st['vol']) as image:   # ... then remove, each on its own
            image.remove_snap(st['snap'])

    def delete_volume(self, st: State) -> None:
        with self.conn() as io:
            self.rbd.RBD().remove(io, st['vol'])


class PatternSide(RawSide):
    """Raw librbd with the driver's connection pattern, plus the subprocess its connect runs.

    The deletes open the extra connection the driver opens: its _delete_volume opens an
    RBDVolumeProxy with ``ioctx=`` but no ``client=``, which makes the proxy connect anew.
    """

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.connects = 0

    @contextlib.contextmanager
    def conn(self) -> Iterator[Any]:
        self.connects += 1
        with super().conn() as ioctx:
            yield ioctx

    def _extra(self, count: int) -> None:
        for _ in range(count):
            with self.conn():
                pass

    def connect(self, st: State) -> None:
        subprocess.run(['ceph', 'mon', 'dump', '--format=json', '--id', self.env['CINDER_NB_CEPH_USER'],
                        '--conf', self.env['CINDER_NB_CEPH_CONF']], check=True, capture_output=True)

    def delete_from_snapshot(self, st: State) -> None:
        self._extra(1)
        super().delete_from_snapshot(st)

    def delete_clone(self, st: State) -> None:
        self._extra(1)
        super().delete_clone(st)

    def delete_volume(self, st: State) -> None:
        self._extra(1)
        super().delete_volume(st)

    def rados_connect(self, st: State) -> None:
        self._extra(1)


# ---------------------------------------------------------------------------- run
def p90(values: list[float]) -> float:
    if not values:
        return float('nan')
    ordered = sorted(values)
    return ordered[math.ceil(0.9 * len(ordered)) - 1]


def run(sides: dict[str, Any], n: int, warmup: int) -> tuple[dict, dict]:
    """N items (after warm-up), every op on every side in rotating order; seconds and connection counts."""
    lib, pattern = sides['nb'], sides['pattern']
    times = {op: {name: [] for name in sides} for op in OPS}
    counts = {op: {'nb_connects': [], 'nb_execs': [], 'nb_outside_s': [], 'pattern_connects': []} for op in OPS}
    names = list(sides)
    for item in range(warmup + n):
        shift = item % len(names)
        order = names[shift:] + names[:shift]
        states: dict[str, State] = {name: {} for name in names}
        for op in OPS:
            for name in order:
                fn: Callable[[State], None] | None = getattr(sides[name], op, None)
                if fn is None:
                    continue
                before = (lib.connects, lib.execs, pattern.connects, lib.driver_s)
                t0 = clock()
                fn(states[name])
                elapsed = clock() - t0
                if item < warmup:
                    continue
                times[op][name].append(elapsed)
                if name == 'nb':
                    counts[op]['nb_connects'].append(lib.connects - before[0])
                    counts[op]['nb_execs'].append(lib.execs - before[1])
                    counts[op]['nb_outside_s'].append(elapsed - (lib.driver_s - before[3]))
                elif name == 'pattern':
                    counts[op]['pattern_connects'].append(pattern.connects - before[2])
    return times, counts


def leftovers(rbd: Any, ioctx: Any) -> list[str]:
    images = list(rbd.RBD().list(ioctx))
    trash = [f"trash:{t['name']}" for t in rbd.RBD().trash_list(ioctx)]
    return images + trash


# ---------------------------------------------------------------------------- report
def ms(v: float) -> float:
    return v * 1000


def fmt_ms(values: list[float], f: Callable[[list[float]], float] = median) -> str:
    if not values:
        return 'n/a'
    v = ms(f(values))
    return f'{v:,.0f}' if v >= 100 else f'{v:.1f}' if v >= 1 else f'{v:.2f}'


def latency_rows(times: dict, counts: dict) -> list[list[str]]:
    def ratio(a: list[float], b: list[float]) -> str:
        return f'{median(a) / median(b):.2f}' if a and b else 'n/a'

    def count(vs: list[int]) -> str:
        return f'{median(vs):g}' if vs else '-'
    rows = []
    for op in OPS:
        t, c = times[op], counts[op]
        nb, raw, pat = t['nb'], t['raw'], t['pattern']
        rows.append([LABELS[op] + (' *' if op in MON_BOUND else ''), fmt_ms(nb), fmt_ms(nb, p90),
                     fmt_ms(c['nb_outside_s']), fmt_ms(raw), fmt_ms(raw, p90), ratio(nb, raw), fmt_ms(pat),
                     fmt_ms(pat, p90), ratio(nb, pat), f"{count(c['nb_connects'])} / {count(c['pattern_connects'])}",
                     count(c['nb_execs'])])
    return rows


def summarize(times: dict, counts: dict) -> str:
    """The paragraph under the table: where the cinder_nb - raw gap goes (ops not bound to the mon timer)."""
    med = {op: {side: median(v) for side, v in t.items() if v} for op, t in times.items()}
    plain = [op for op in OPS if op not in MON_BOUND and 'raw' in med[op]]
    gap = sum(med[op]['nb'] - med[op]['raw'] for op in plain)
    conns = sum(med[op]['pattern'] - med[op]['raw'] for op in plain)
    outside = sum(median(counts[op]['nb_outside_s']) for op in plain)
    ratios = [med[op]['nb'] / med[op]['raw'] for op in plain]
    mon_ratios = [med[op]['nb'] / med[op]['raw'] for op in MON_BOUND]
    return (f"For {', '.join(plain)} cinder_nb takes {min(ratios):.1f}-{max(ratios):.1f}x the raw librbd time. "
            f"One RADOS connect + open_ioctx + shutdown costs {ms(med['rados_connect']['pattern']):.1f} ms here; "
            f"summed over these operations the cinder_nb - raw gap is {ms(gap):.0f} ms, of which the driver's "
            f"RADOS connections (Cinder-pattern - raw) are {ms(conns):.0f} ms ({conns / gap:.0%}), cinder_nb "
            f"outside the driver calls {ms(outside):.1f} ms ({outside / gap:.0%}), and the remaining "
            f"{ms(gap - conns - outside):.0f} ms the driver's other work (extra image opens and look-ups). "
            f"* = the librbd calls allocate or release a self-managed snapshot id (create_snap/remove_snap), "
            f"an OSD map update the mon batches every paxos_propose_interval: every side waits for it, so "
            f"cinder_nb / raw is {min(mon_ratios):.2f}-{max(mon_ratios):.2f}x there. "
            f"connect: the driver's `ceph mon dump` subprocess alone takes {ms(med['connect']['pattern']):.0f} ms "
            f"(cinder_nb's connect: {ms(med['connect']['nb']):.0f} ms); attach is that connect plus the local "
            f"rbd-fuse mount and losetup.")


def render(res: dict) -> str:
    m, mem, cl = res['machine'], res['memory'], res['cluster']
    start = 'reused (--keep), start not measured' if cl['reused'] else f"started in {cl['start_s']:.1f} s"
    lines = [
        "## Ceph: cinder_nb on Cinder's RBDDriver vs raw librbd",
        '',
        f"Machine: {m['nproc']} CPUs ({m['cpu']}), {m['memory_gib']} GiB RAM, {m['os']}, kernel {m['kernel']}, "
        f"Python {m['python']}. Versions: cinder {res['versions']['cinder']}, cinder_nb {res['versions']['cinder_nb']}, "
        f"os-brick {res['versions']['os-brick']}, {res['versions']['ceph']}, librbd {res['versions']['librbd']}.",
        f"Cluster (micro-ceph.sh: 1 mon, 1 mgr, 1 memstore OSD, cephx, pool volumes, size 1) {start}; "
        f"mon paxos_propose_interval {cl['paxos_propose_interval']} s; image features {res['features']} "
        f"(Cinder's: the cluster's rbd_default_features), object order {ORDER}. "
        f"N = {res['n']} items after {res['warmup']} warm-up; total run {res['total_s']:.0f} s.",
        '',
        '### Memory (VmRSS, MiB)',
        '',
        md_table(['process', 'after start', 'after workload'],
                 [[k, mem['after_start'][k], mem['after_workload'][k]] for k in ('mon', 'mgr', 'osd', 'total')]
                 + [['this benchmark process (peak RSS)', '', mem['bench_peak_rss_mib']]]),
        '',
        '### Latency per operation (ms)',
        '',
        md_table(['operation', 'cinder_nb median', 'p90', 'of it outside the driver', 'raw librbd median', 'p90',
                  'cinder_nb / raw',
                  'Cinder-pattern median', 'p90', 'cinder_nb / pattern', 'RADOS connects: driver / pattern',
                  'driver subprocesses'], res['latency_table']),
        '',
        'raw librbd: only the librbd calls that do the work, on one RADOS connection opened before the run '
        '(create; resize; create_snap+protect_snap; for a clone create_snap+protect_snap of <clone>.clone_snap + '
        'clone; clone from the snapshot; remove (for a clone also unprotect_snap+remove_snap of its .clone_snap); '
        'unprotect_snap+remove_snap), with Cinder\'s features and order. It leaves out what the driver adds: a new '
        'RADOS connection for each RADOSClient/RBDVolumeProxy in cinder/volume/drivers/rbd.py (counted: '
        'connects column), extra image opens and look-ups (stripe unit, clone depth, snapshot and parent listings '
        'before a delete), the OVOs and cinder_nb\'s state. Cinder-pattern: the same librbd calls, opening and '
        'shutting down as many RADOS connections as the driver did; for connect, the `ceph mon dump` subprocess '
        'initialize_connection runs. connect/disconnect/attach/detach have no librbd equivalent (n/a).',
        '',
        res['summary'],
    ]
    if res['leftovers']:
        lines += ['', f"WARNING: images left in the pool after the benchmark: {', '.join(res['leftovers'])}"]
    return '\n'.join(lines) + '\n'


def versions(rbd: Any) -> dict[str, str]:
    def dist(name: str) -> str:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            return 'not installed'
    ceph = subprocess.run(['ceph', '--version'], capture_output=True, text=True).stdout.strip()
    return {'cinder': dist('cinder'), 'cinder_nb': dist('cinder_nb'), 'os-brick': dist('os-brick'),
            'ceph': ' '.join(ceph.split()[:3]), 'librbd': '.'.join(map(str, rbd.RBD().version()))}


# ---------------------------------------------------------------------------- main
def main() -> None:
    quiet_warnings()
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--n', type=int, default=12, help='timed items (default 12, ~3.5 min)')
    parser.add_argument('--warmup', type=int, default=1, help='untimed items first (default 1)')
    parser.add_argument('--ceph-dir', default=os.path.join(tempfile.gettempdir(), 'cinder_nb-ceph-bench'))
    parser.add_argument('--keep', action='store_true', help='leave the cluster running at the end')
    parser.add_argument('--out-dir', default=RESULTS_DIR)
    parser.add_argument('--paxos-propose-interval', type=float, default=None, metavar='SECONDS',
                        help="set the mon's paxos_propose_interval (micro-ceph leaves Ceph's 1 s) through its "
                             "admin socket before the workload; it bounds snapshot create/delete latency")
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit('bench/ceph.py needs root: it starts Ceph daemons and attaches through rbd-fuse '
                         'and loop devices. Run it with sudo.')
    t_start = clock()
    work = tempfile.mkdtemp(prefix='ceph-bench-')
    lib: LibSide | None = None
    env: dict[str, str] = {}
    try:
        cluster = start_cluster(args.ceph_dir)
        env = cluster['env']
        import cinder_nb as cnb
        from cinder_nb import ceph as cnb_ceph
        if not cnb_ceph.ensure_bindings():
            raise SystemExit('the rados/rbd bindings (python3-rados, python3-rbd) are not importable')
        import rados
        import rbd
        rss_start = daemon_rss_mib(args.ceph_dir)
        if args.paxos_propose_interval is not None:
            mon_config(args.ceph_dir, 'paxos_propose_interval', str(args.paxos_propose_interval))
        cluster['paxos_propose_interval'] = float(mon_config(args.ceph_dir, 'paxos_propose_interval'))
        cnb.setup('memory', state_dir=os.path.join(work, 'state'))
        backend = cnb.Backend('ceph', volume_driver='cinder.volume.drivers.rbd.RBDDriver',
                              rbd_pool=env['CINDER_NB_CEPH_POOL'], rbd_user=env['CINDER_NB_CEPH_USER'],
                              rbd_ceph_conf=env['CINDER_NB_CEPH_CONF'], rbd_keyring_conf=env['CINDER_NB_CEPH_KEYRING'])
        lib = LibSide(backend)
        shared = rados.Rados(conffile=env['CINDER_NB_CEPH_CONF'], rados_id=env['CINDER_NB_CEPH_USER'],
                             conf={'keyring': env['CINDER_NB_CEPH_KEYRING']})
        shared.connect()
        ioctx = shared.open_ioctx(env['CINDER_NB_CEPH_POOL'])
        try:
            features = int(shared.conf_get('rbd_default_features') or 0) or rbd.RBD_FEATURE_LAYERING
            sides = {'nb': lib, 'raw': RawSide(rados, rbd, env, features, ioctx),
                     'pattern': PatternSide(rados, rbd, env, features, None)}
            times, counts = run(sides, args.n, args.warmup)
            left = leftovers(rbd, ioctx)
            ver = versions(rbd)
        finally:
            ioctx.close()
            shared.shutdown()
        rss_end = daemon_rss_mib(args.ceph_dir)
        res = {'n': args.n, 'warmup': args.warmup, 'machine': machine_info(work), 'versions': ver,
               'cluster': dict(cluster, ceph_dir=args.ceph_dir),
               'features': features,
               'memory': {'after_start': rss_start, 'after_workload': rss_end, 'bench_peak_rss_mib': maxrss_mib()},
               'times_s': times, 'driver_counts': counts, 'leftovers': left,
               'latency_table': latency_rows(times, counts), 'summary': summarize(times, counts)}
        res['total_s'] = clock() - t_start
        text = render(res)
        print(text)
        os.makedirs(args.out_dir, exist_ok=True)
        with open(os.path.join(args.out_dir, 'ceph.md'), 'w') as f:
            f.write(text)
        with open(os.path.join(args.out_dir, 'ceph.json'), 'w') as f:
            json.dump(res, f, indent=1, sort_keys=True, default=str)
        if left:
            print(f'WARNING: {len(left)} image(s) left in the pool: {left}', file=sys.stderr)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if lib is not None:
            release_mounts(lib.images)
        if args.keep:
            print(f'[ceph] cluster kept running in {args.ceph_dir} (stop: CEPH_DIR={args.ceph_dir} '
                  f'{MICRO_CEPH} stop)', file=sys.stderr)
        else:
            micro_ceph(args.ceph_dir, 'stop')


if __name__ == '__main__':
    main()
