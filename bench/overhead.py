"""Workload 1: library overhead per operation, side by side with raw driver calls.

One process runs two sides, whose volume and snapshot files share one directory:

* the library side: ``cinder_nb`` (or, in the cinderlib venv, ``cinderlib``) on the
  embedded LocalFileDriver: ``create_volume``, ``create_snapshot``, ``clone``,
  snapshot ``delete``, volume ``delete``;
* the raw side: a LocalFileDriver instantiated here with a Cinder Configuration,
  called directly (``create_volume(ovo)``, ...) with OVOs built by
  ``cinder_nb._cinder.volume_ovo``/``snapshot_ovo``. Its time includes building
  the OVO (a caller cannot call a driver without one); the OVO-free driver time
  is recorded too.

Before the warm-up, every striped lock name (cinder_nb's volume and snapshot delete locks, the
driver's file locks) is taken once, on both sides: tooz never removes a lock file, so creating
them is a one-time cost of a state dir (timed and reported as ``lock_files_first_use_s``), and
left in the phases it made the medians depend on N (the first use of each of 256 names per
prefix creates its file: with N=300, 6 in 10 snapshot deletes created one).

For cinder_nb a third side runs the operations' measured floor in the same sequence: each
operation doing only the state work issue 14's floor counts (run_all.FLOOR_PARTS: capacity
check, compare-and-swap insert and outcome write, the new resource's Cinder object, the delete
lock, the record's removal), with cinder_nb's own parts, around the driver call, on its own
records (a live Cinder object per resource, kept from its create, as a library keeping live
objects has). Its outcome write stores what the driver reported (as Cinder's volume manager
stores a model update: provider_location here) and sets it on the kept object, which must show
the record. op_floor.py times those parts one by one in a loop, on one warm record; here they
run where an operation runs them: right after other operations' driver calls, on records and
objects last touched a phase earlier.

A kept Cinder object handed to a driver must show the records as stored now (another operation,
thread or process may have changed them: the state issue's guarantee). The floor side also runs,
timed apart, the least any such check does before a kept object goes to the driver (``checks``):
the look-up of the volume's current record and of its connections (a volume with connections
needs an object that shows them), and each kept object's change set read and its status and
updated_at brought up to its record. It compares nothing (a scheme that knew, from a counter
kept on every write, that nothing else changed would add that counter's upkeep): a lower bound.

Every operation of cinder_nb's API also owes its bookkeeping, which the floor side runs too,
timed apart (``book``): its inputs validated (the checks cinder_nb's API makes of the arguments
this benchmark passes, by the same functions of cinder_nb._validation) and an operation-log row
(cinder_nb.oplog's fields: what ran, on what, when, how long, the outcome, the enclosing call,
the thread), the least such a log can be: a counter, a thread-local stack, two clocks, a tuple
appended to a bounded deque; no listeners, no decorator.

Reported: ``floor_median_s`` without the checks and the bookkeeping (the floor of a library
that trusts its kept objects and keeps no log), ``floor_checked_median_s`` with the checks,
``floor_booked_median_s`` with both; ``floor_checks_median_s`` and ``floor_book_median_s``
each alone.

Phases run N operations each (create N volumes, snapshot each, clone each, delete
the snapshots, delete clones and volumes), so the state grows to 3N objects.
Within a phase the sides alternate item by item (the order rotated on every item) and
medians are reported.

Usage: python overhead.py --lib nb|cinderlib --n 300 [--persistence memory|sqlite] [--out f.json]
"""
from __future__ import annotations

import argparse
import collections
import itertools
import os
import sys
import tempfile
import threading
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import clock, emit, median, quiet_warnings  # noqa: E402

OPS = ('create', 'snapshot', 'clone', 'delete_snapshot', 'delete_volume')


class RawSide:
    """LocalFileDriver called directly, no Backend/Volume in between."""

    def __init__(self, path: str) -> None:
        from cinder.volume import configuration
        from oslo_config import cfg

        from cinder_nb.drivers import localfile
        group = 'rawbench'
        cfg.CONF.register_group(cfg.OptGroup(group))
        cfg.CONF.register_opts(localfile.local_file_opts, group=group)
        cfg.CONF.set_override('local_file_path', path, group=group)
        cfg.CONF.set_override('local_file_attach_mode', 'file', group=group)
        config = configuration.Configuration([], config_group=group)
        self.driver = localfile.LocalFileDriver(configuration=config, host='bench@rawbench')
        self.driver.do_setup(None)
        self.driver.check_for_setup_error()
        self.call_times: dict[str, list[float]] = {op: [] for op in OPS}

    @staticmethod
    def _vrec(size: int = 1) -> dict:
        return {'id': str(uuid.uuid4()), 'backend': 'rawbench', 'size': size, 'status': 'available'}

    def _run(self, op: str, build, call):
        """Time build()+call(obj) in total; remember call(obj) alone."""
        start = clock()
        obj = build()
        mid = clock()
        result = call(obj)
        end = clock()
        self.call_times[op].append(end - mid)
        return end - start, result

    # each returns (seconds, handle)
    def create(self):
        from cinder_nb import _cinder
        rec = self._vrec()
        t, _ = self._run('create', lambda: _cinder.volume_ovo(rec), self.driver.create_volume)
        return t, rec

    def snapshot(self, vrec):
        from cinder_nb import _cinder
        srec = {'id': str(uuid.uuid4()), 'backend': 'rawbench', 'volume_id': vrec['id'],
                'volume_size': vrec['size'], 'status': 'available'}
        t, _ = self._run('snapshot', lambda: _cinder.snapshot_ovo(srec, _cinder.volume_ovo(vrec)),
                         self.driver.create_snapshot)
        return t, (srec, vrec)

    def clone(self, vrec):
        from cinder_nb import _cinder
        new = self._vrec(vrec['size'])
        t, _ = self._run('clone', lambda: (_cinder.volume_ovo(new), _cinder.volume_ovo(vrec)),
                         lambda pair: self.driver.create_cloned_volume(*pair))
        return t, new

    def delete_snapshot(self, handle):
        from cinder_nb import _cinder
        srec, vrec = handle
        t, _ = self._run('delete_snapshot', lambda: _cinder.snapshot_ovo(srec, _cinder.volume_ovo(vrec)),
                         self.driver.delete_snapshot)
        return t, None

    def delete_volume(self, vrec):
        from cinder_nb import _cinder
        t, _ = self._run('delete_volume', lambda: _cinder.volume_ovo(vrec), self.driver.delete_volume)
        return t, None


class LibSide:
    """The library under test: Backend.create_volume, Volume.create_snapshot, ..."""

    def __init__(self, lab) -> None:
        self.lab = lab

    @staticmethod
    def _t(fn):
        start = clock()
        result = fn()
        return clock() - start, result

    def create(self):
        return self._t(lambda: self.lab.create_volume(1))

    def snapshot(self, vol):
        return self._t(vol.create_snapshot)

    def clone(self, vol):
        return self._t(vol.clone)

    def delete_snapshot(self, snap):
        return self._t(snap.delete)

    def delete_volume(self, vol):
        return self._t(vol.delete)


class FloorSide:
    """The floor of each operation (see the module docstring), on the library side's runtime,
    store and driver; handles are (resource, its kept Cinder object)."""

    def __init__(self, lab) -> None:
        from cinder_nb import _cinder, _runtime
        self.lab, self.driver, self.cinder = lab, lab.driver, _cinder
        self.rt = _runtime.get()
        self.Volume, self.Snapshot = _runtime.class_of('volume'), _runtime.class_of('snapshot')
        #: seconds of each operation's kept-object checks (0 where none runs), item by item
        self.checks_s: dict[str, list[float]] = {op: [] for op in OPS}
        #: kept objects the checks found with a change set (a driver set a field on them)
        self.changed = 0
        #: seconds of each operation's bookkeeping (see _enter), item by item
        self.book_s: dict[str, list[float]] = {op: [] for op in OPS}
        from cinder_nb import _validation
        self.validation = _validation
        self._rows: collections.deque = collections.deque(maxlen=10_000)
        self._seq = itertools.count(1)
        self._calls = threading.local()

    # the bookkeeping any operation of cinder_nb's API owes: its inputs validated (the checks
    # cinder_nb's API makes of the arguments this benchmark passes, by the same functions) and
    # an operation-log row (what ran, on what, when, how long, the outcome, the enclosing call,
    # the thread: cinder_nb.oplog's fields), the least each can be: no listeners, no wrapper
    def _enter(self, validate) -> tuple:
        start = clock()
        if validate is not None:
            validate()
        seq = next(self._seq)
        stack = self._calls.__dict__.setdefault('calls', [])
        parent = stack[-1] if stack else None
        stack.append(seq)
        started = time.time()
        return seq, parent, started, start, clock() - start

    def _leave(self, op: str, name: str, entry: tuple, obj, result=None) -> None:
        start = clock()
        seq, parent, started, began, spent = entry
        self._calls.calls.pop()
        self._rows.append((seq, name, obj.KIND, obj.id, None if result is None else result.id, obj.backend_name,
                           started, start - began, None, parent, threading.current_thread().name))
        self.book_s[op].append(spent + clock() - start)

    def _new_volume_inputs(self, pool_name=None, extra_specs=None, qos_specs=None) -> None:
        v = self.validation
        v.size('size', 1)
        v.text('name', None)
        v.text('description', None, max_len=4096)
        self.lab._check_pool(pool_name)
        for flag in (False, False):             # multiattach, bootable
            isinstance(flag, bool)
        v.str_mapping('extra_specs', extra_specs)
        v.str_mapping('qos_specs', qos_specs)
        v.str_mapping('metadata', None)

    def _snapshot_inputs(self) -> None:
        v = self.validation
        v.text('name', None)
        v.text('description', None, max_len=4096)
        v.str_mapping('metadata', None)

    def _outcome(self, obj, ovo, model) -> None:
        """The outcome write: status, and what the driver reported (stored as Cinder's volume
        manager stores a model update, and shown by the kept object, which must show the record)."""
        if model:
            obj._set(status='available', driver_data=dict(model))
            for key, value in model.items():
                setattr(ovo, key, value)
        else:
            obj._set(status='available')
        self.cinder.refresh_in_place(ovo, obj.record)

    def _checks(self, op: str, vol, shown) -> None:
        """The least a check of kept objects does before they go to the driver (see the module
        docstring): vol's current record and its connections looked up; each (ovo, record) of
        shown: its change set read, status and updated_at brought up to the record."""
        start = clock()
        self.rt.live['volume'].get(vol.id)
        self.rt.persistence.scan('connection', volume_id=vol.id)
        for ovo, rec in shown:
            # a library would build a new object for one with changes (counted, not built)
            self.changed += bool(ovo.__dict__['_changed_fields'])
            self.cinder.refresh_in_place(ovo, rec)
        self.checks_s[op].append(clock() - start)

    def _volume(self):
        from cinder_nb._resource import now
        ts = now()
        return self.Volume({'id': str(uuid.uuid4()), 'backend': self.lab.id, 'pool_name': self.lab.pool_names[0],
                            'name': '', 'description': '', 'size': 1, 'status': 'creating',
                            'source_volid': None, 'snapshot_id': None, 'extra_specs': {}, 'qos_specs': {},
                            'metadata': {}, 'admin_metadata': {}, 'multiattach': False, 'bootable': False,
                            'driver_data': {}, 'error': None, 'created_at': ts, 'updated_at': ts})

    def _insert_child(self, parent, child) -> None:
        """Store child in the compare-and-swap that bumps parent's version."""
        def step(txn) -> None:
            txn.read(parent)
            txn.bump(parent)
            txn.insert(child, child.record)
        self.rt.transact(step, parent, 'floor')

    # each returns (seconds, handle); making the new record (its id, timestamps and fields) is
    # timed: the compare-and-swap insert the floor counts needs it
    def create(self):
        start = clock()
        entry = self._enter(self._new_volume_inputs)
        vol = self._volume()
        self.lab._check_capacity(vol.pool_name, 1, 'floor')
        self.rt.transact(lambda txn: txn.insert(vol, vol.record), vol, 'floor')
        ovo = self.cinder.volume_ovo(vol.record)
        self._outcome(vol, ovo, self.driver.create_volume(ovo))
        self.checks_s['create'].append(0.0)
        self._leave('create', 'backend.create_volume', entry, vol)
        return clock() - start, (vol, ovo)

    def snapshot(self, handle):
        from cinder_nb._resource import now
        vol, vol_ovo = handle
        start = clock()
        entry = self._enter(self._snapshot_inputs)
        ts = now()
        snap = self.Snapshot({'id': str(uuid.uuid4()), 'backend': vol.backend_name, 'volume_id': vol.id,
                              'volume_size': vol.size, 'name': '', 'description': '', 'status': 'creating',
                              'metadata': {}, 'driver_data': {}, 'error': None, 'created_at': ts, 'updated_at': ts})
        self._insert_child(vol, snap)
        self._checks('snapshot', vol, [(vol_ovo, vol.record)])
        ovo = self.cinder.snapshot_ovo(snap.record, vol_ovo)
        self._outcome(snap, ovo, self.driver.create_snapshot(ovo))
        self._leave('snapshot', 'volume.create_snapshot', entry, vol, snap)
        return clock() - start, (snap, ovo)

    def clone(self, handle):
        src, src_ovo = handle
        start = clock()
        entry = self._enter(lambda: self._new_volume_inputs(src.pool_name, src.extra_specs, src.qos_specs))
        new = self._volume()
        new.record['source_volid'] = src.id
        self.lab._check_capacity(new.pool_name, 1, 'floor')
        with src._delete_lock():
            self._insert_child(src, new)
            self._checks('clone', src, [(src_ovo, src.record)])
            ovo = self.cinder.volume_ovo(new.record)
            model = self.driver.create_cloned_volume(ovo, src_ovo)
        self._outcome(new, ovo, model)
        self._leave('clone', 'volume.clone', entry, src, new)
        return clock() - start, (new, ovo)

    def _delete(self, obj, call, vol, shown) -> float:
        start = clock()
        entry = self._enter(None)
        obj._set(status='deleting')
        self._checks(f'delete_{obj.KIND}', vol, shown)
        with obj._delete_lock():
            call()
        self.rt.forget(obj)
        self.cinder.remove_resource_locks(obj.KIND, obj.id, self.driver)
        self._leave(f'delete_{obj.KIND}', f'{obj.KIND}.delete', entry, obj)
        return clock() - start

    def delete_snapshot(self, handle):
        snap, ovo = handle
        vol = self.rt.live['volume'][snap.volume_id]
        return self._delete(snap, lambda: self.driver.delete_snapshot(ovo), vol,
                            [(ovo, snap.record), (ovo.volume, vol.record)]), None

    def delete_volume(self, handle):
        vol, ovo = handle
        start = clock()
        self.rt.persistence.list('snapshot', volume_id=vol.id)      # the children look-up
        self.rt.persistence.list('connection', volume_id=vol.id)
        return clock() - start + self._delete(vol, lambda: self.driver.delete_volume(ovo), vol,
                                              [(ovo, vol.record)]), None


def make_lib(lib: str, work: str, persistence: str):
    if lib == 'nb':
        import cinder_nb as cnb
        config = 'memory' if persistence == 'memory' else f"sqlite:///{work}/state.db"
        cnb.setup(config, state_dir=os.path.join(work, 'state'))
        lab = cnb.embedded(os.path.join(work, 'lib'), local_file_attach_mode='file')
    else:
        import cinderlib as cl
        if persistence != 'memory':
            raise SystemExit('the cinderlib side runs with its default memory persistence only')
        cl.setup(file_locks_path=os.path.join(work, 'locks'), disable_logs=True)
        lab = cl.Backend('lab', volume_driver='cinder_nb.drivers.localfile.LocalFileDriver',
                         local_file_path=os.path.join(work, 'lib'), local_file_attach_mode='file')
    return LibSide(lab)


def warm_lock_files() -> float:
    """Take every striped lock name once (creating the files a fresh state dir lacks); seconds."""
    from cinder_nb import _cinder
    from cinder_nb._cinder.startup import LOCK_STRIPES
    names: list[str] = []
    for prefix in ('volume-delete', 'snapshot-delete', 'localfile'):
        mine = {_cinder.striped_lock_name(prefix, f'warm-{i}') for i in range(50 * LOCK_STRIPES)}
        assert len(mine) == LOCK_STRIPES, (prefix, len(mine))     # every stripe, whatever its format
        names += sorted(mine)
    start = clock()
    for name in names:
        with _cinder.lock(name):
            pass
    return clock() - start


def run(lib: str, n: int, persistence: str, work: str, warmup: int = 10) -> dict:
    """All phases, sides interleaved; returns medians per operation (seconds)."""
    side_a = make_lib(lib, work, persistence)
    # the raw driver keeps its files in the library's own directory: creating a file costs 8 us
    # or 160-300 us in a new directory of this machine's ext4, depending on the directory, so
    # sides in two directories of one process differed by up to 4x in the same driver call
    side_b = RawSide(os.path.join(work, 'lib'))
    sides = {'lib': side_a, 'raw': side_b}
    if lib == 'nb':
        sides['floor'] = FloorSide(side_a.lab)
    names = tuple(sides)
    times: dict[str, dict[str, list[float]]] = {op: {name: [] for name in names} for op in OPS}

    def cycle(count: int, record: bool) -> None:
        handles = {name: {'vols': [], 'snaps': [], 'clones': []} for name in sides}

        def phase(op: str, sources_key: str | None, dest_key: str | None):
            for i in range(count):
                shift = i % len(names)
                for name in names[shift:] + names[:shift]:
                    h = handles[name]
                    if sources_key is None:
                        t, out = getattr(sides[name], op)()
                    else:
                        t, out = getattr(sides[name], op)(h[sources_key][i])
                    if record:
                        times[op][name].append(t)
                    if dest_key is not None:
                        h[dest_key].append(out)

        phase('create', None, 'vols')
        phase('snapshot', 'vols', 'snaps')
        phase('clone', 'vols', 'clones')
        phase('delete_snapshot', 'snaps', None)
        phase('delete_volume', 'clones', None)
        phase('delete_volume', 'vols', None)

    lock_files_s = warm_lock_files()
    cycle(warmup, record=False)
    for op in OPS:
        side_b.call_times[op].clear()
        if 'floor' in sides:
            sides['floor'].checks_s[op].clear()
            sides['floor'].book_s[op].clear()
    if 'floor' in sides:
        sides['floor'].changed = 0
    cycle(n, record=True)
    result = {'lib': lib, 'n': n, 'persistence': persistence, 'lock_files_first_use_s': lock_files_s, 'ops': {}}
    if 'floor' in sides:
        result['floor_checks_found_changed'] = sides['floor'].changed
    for op in OPS:
        lib_t, raw_t = times[op]['lib'], times[op]['raw']
        result['ops'][op] = {'lib_median_s': median(lib_t), 'raw_median_s': median(raw_t),
                             'raw_call_median_s': median(side_b.call_times[op]),
                             'samples': len(lib_t)}
        if times[op].get('floor'):
            full, checks, book = times[op]['floor'], sides['floor'].checks_s[op], sides['floor'].book_s[op]
            assert len(checks) == len(full) == len(book), (op, len(checks), len(full), len(book))
            result['ops'][op].update(floor_median_s=median([t - c - b for t, c, b in zip(full, checks, book)]),
                                     floor_checked_median_s=median([t - b for t, b in zip(full, book)]),
                                     floor_checks_median_s=median(checks),
                                     floor_booked_median_s=median(full),
                                     floor_book_median_s=median(book))
    return result


def main() -> None:
    quiet_warnings()
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--lib', choices=('nb', 'cinderlib'), default='nb')
    parser.add_argument('--n', type=int, default=300)
    parser.add_argument('--persistence', choices=('memory', 'sqlite'), default='memory')
    parser.add_argument('--work-dir', default=None)
    parser.add_argument('--out')
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix='overhead-', dir=args.work_dir)
    emit(run(args.lib, args.n, args.persistence, work), args.out)


if __name__ == '__main__':
    main()
