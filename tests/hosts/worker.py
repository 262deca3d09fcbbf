"""One "host" of the several-hosts test: random, deliberately conflicting operations.

Run as ``python -m tests.hosts.worker MODE --config FILE --host NAME`` inside the host's
network namespace. MODE is

- ``run``: ``ops`` random operations on a small pool of volume ids shared by every host
  (create, delete, extend, snapshot, delete snapshot, clone, volume from snapshot,
  connect, disconnect), half of them on objects this process fetched earlier and may
  hold stale;
- ``recover``: what an operator does on another host after one died: every record left in
  a transitional status is reset to 'error' and deleted (connections disconnected); then,
  once the test has checked the state, disconnect and delete everything, so the test can
  check that nothing is left.

Each operation is journaled to ``<journal_dir>/<host>.jsonl``: a ``start`` line before,
an ``end`` line after with the outcome (written with O_APPEND before and after the call,
so a kill -9 leaves a start without an end). The checker (tests.hosts.check) reads them.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
import traceback

import cinder_nb as cnb
from cinder_nb import _runtime
from cinder_nb.errors import CinderNBError

TRANSITIONAL = ('creating', 'deleting', 'extending', 'attaching', 'detaching', 'reverting')
OPS = (('create', 6), ('delete', 5), ('extend', 5), ('snapshot', 5), ('delete_snapshot', 4),
       ('clone', 3), ('from_snapshot', 3), ('connect', 4), ('disconnect', 4))
MAX_SIZE = 4


class _NothingToDo(Exception):
    """The randomly picked target offers nothing for this operation (not a conflict)."""


class Journal:
    def __init__(self, path: str, host: str) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self.host = host
        self.n = 0

    def write(self, **entry) -> None:
        entry['h'] = self.host
        entry['t'] = time.time()
        os.write(self.fd, (json.dumps(entry, sort_keys=True) + '\n').encode())


def connect(cfg: dict, host: str):
    cnb.setup(cfg['db_url'], state_dir=os.path.join(cfg['state_root'], host),
              coordination_url=cfg.get('coordination_url'))
    return cnb.Backend(cfg['backend'], volume_driver='cinder_nb.drivers.localfile.LocalFileDriver',
                       local_file_path=cfg['volumes_dir'], local_file_attach_mode='file')


def _fetch(kind: str, ident: str):
    return _runtime.get().get(kind, ident)


def _find(kind: str, **kw) -> list:
    return _runtime.get().find(kind, **kw)


class Host:
    def __init__(self, cfg: dict, host: str, journal: Journal) -> None:
        self.cfg, self.host, self.journal = cfg, host, journal
        self.backend = connect(cfg, host)
        self.pool: list[str] = cfg['pool']
        self.rng = random.Random(f"{cfg['seed']}-{host}")
        self.cache: dict[str, object] = {}      # id -> object as last fetched (may go stale)
        self.n = 0
        self.connector = {'host': host, 'initiator': f'iqn.2026-11.test.cinder-nb:{host}'}

    # ----------------------------------------------------------- picking targets
    def volume(self, ident: str):
        """The volume: half the time the object fetched earlier (possibly stale), else fresh."""
        if ident in self.cache and self.rng.random() < 0.5:
            return self.cache[ident]
        vol = _fetch('volume', ident)
        self.cache[ident] = vol
        return vol

    def some(self, kind: str):
        vid = self.rng.choice(self.pool)
        found = _find(kind, volume_id=vid)
        if not found:
            raise _NothingToDo(f'no {kind} on volume {vid}')
        obj = self.rng.choice(found)
        return obj

    # ----------------------------------------------------------- one operation
    def _intent(self, op: str, **what) -> None:
        """Journal what the call about to start may change (a kill -9 leaves it open)."""
        self.journal.write(ph='intent', n=self.n, op=op, **what)

    def one(self, op: str) -> dict:
        """Run op; returns what the journal's end line says about its effect."""
        vid = self.rng.choice(self.pool)
        if op == 'create':
            self._intent(op, made=('volume', vid))
            vol = self.backend.create_volume(1, id=vid)
            self.cache[vid] = vol
            return {'kind': 'volume', 'id': vid, 'made': vid, 'size': 1}
        if op == 'delete':
            vol = self.volume(vid)
            self._intent(op, gone=('volume', vid))
            vol.delete()
            return {'kind': 'volume', 'id': vid, 'gone': vid}
        if op == 'extend':
            vol = self.volume(vid)
            old = vol.size
            if old >= MAX_SIZE:
                raise _NothingToDo(f'volume {vid} is at {old} GiB already')
            new = old + 1
            self._intent(op, target=('volume', vid))
            vol.extend(new)
            return {'kind': 'volume', 'id': vid, 'old': old, 'size': new}
        if op == 'snapshot':
            vol = self.volume(vid)
            self._intent(op, made=('snapshot', '?'), target=('volume', vid))
            snap = vol.create_snapshot()
            return {'kind': 'snapshot', 'id': vid, 'made': snap.id, 'size': snap.volume_size}
        if op == 'delete_snapshot':
            snap = self.some('snapshot')
            self._intent(op, gone=('snapshot', snap.id))
            snap.delete()
            return {'kind': 'snapshot', 'id': snap.volume_id, 'gone': snap.id}
        if op == 'clone':
            src = self.volume(vid)
            new_id = self.rng.choice(self.pool)
            self._intent(op, made=('volume', new_id), target=('volume', vid))
            vol = src.clone(id=new_id)
            self.cache[new_id] = vol
            return {'kind': 'volume', 'id': vid, 'made': new_id, 'size': vol.size}
        if op == 'from_snapshot':
            snap = self.some('snapshot')
            new_id = self.rng.choice(self.pool)
            self._intent(op, made=('volume', new_id), target=('snapshot', snap.id))
            vol = snap.create_volume(id=new_id)
            self.cache[new_id] = vol
            return {'kind': 'volume', 'id': snap.id, 'made': new_id, 'size': vol.size}
        if op == 'connect':
            vol = self.volume(vid)
            self._intent(op, made=('connection', '?'), target=('volume', vid))
            conn = vol.connect(self.connector)
            return {'kind': 'connection', 'id': vid, 'made': conn.id}
        if op == 'disconnect':
            conn = self.some('connection')
            self._intent(op, gone=('connection', conn.id))
            conn.disconnect()
            return {'kind': 'connection', 'id': conn.volume_id, 'gone': conn.id}
        raise ValueError(op)

    def run(self, ops: int) -> None:
        names = [o for o, _ in OPS]
        weights = [w for _, w in OPS]
        for n in range(ops):
            op = self.rng.choices(names, weights)[0]
            self.n = n
            self.journal.write(ph='start', n=n, op=op)
            try:
                effect = self.one(op)
            except _NothingToDo:              # nothing to pick (no snapshot/connection yet)
                self.journal.write(ph='end', n=n, op=op, ok=False, err='nothing-to-do')
                continue
            except CinderNBError as exc:     # kind/id: what the typed error names
                self.journal.write(ph='end', n=n, op=op, ok=False, err=type(exc).__name__,
                                   msg=str(exc)[:300], exc_kind=getattr(exc, 'kind', None),
                                   exc_id=getattr(exc, 'id', None))
                continue
            except Exception as exc:          # untyped: a bug the checker reports
                self.journal.write(ph='end', n=n, op=op, ok=False, err='UNTYPED:' + type(exc).__name__,
                                   msg=''.join(traceback.format_exception(exc))[-1500:])
                continue
            self.journal.write(ph='end', n=n, op=op, ok=True, **effect)


def _fix_stuck(journal: Journal, tag: str) -> None:
    """Reset what is stuck in a transitional status to 'error', then delete it.

    A stuck volume's snapshots and connections go first; every deletion is journaled.
    """
    def gone(kind: str, obj, call) -> None:
        journal.write(ph='start', op=f'{tag}_{kind}', stuck=obj.status, target=obj.id)
        try:
            call()
        except Exception as exc:
            journal.write(ph='end', op=f'{tag}_{kind}', ok=False, err=type(exc).__name__,
                          msg=str(exc)[:300])
            raise
        journal.write(ph='end', op=f'{tag}_{kind}', ok=True, kind=kind, gone=obj.id,
                      id=obj.record.get('volume_id', obj.id))

    def drop_connection(conn) -> None:
        if conn.status not in ('attached', 'error'):
            conn.reset_status('error')
        conn.disconnect(force=True)

    def drop_snapshot(snap) -> None:
        if snap.status not in ('available', 'error', 'error_deleting'):
            snap.reset_status('error')
        snap.delete()

    def drop_volume(vol) -> None:
        if vol.status not in ('available', 'error', 'error_deleting'):
            vol.reset_status('error')
        for conn in vol.connections:
            gone('connection', conn, lambda: drop_connection(conn))
        for snap in vol.snapshots:
            gone('snapshot', snap, lambda: drop_snapshot(snap))
        vol.delete()

    for kind, drop in (('connection', drop_connection), ('snapshot', drop_snapshot),
                       ('volume', drop_volume)):
        for obj in _find(kind):
            if obj.status in TRANSITIONAL:
                gone(kind, obj, lambda: drop(obj))


def teardown(journal: Journal) -> None:
    """Disconnect and delete everything (after the checks): what remains afterwards leaked."""
    _fix_stuck(journal, 'teardown')
    for conn in _find('connection'):
        if conn.status not in ('attached', 'error'):
            conn.reset_status('error')
        conn.disconnect(force=True)
    for snap in _find('snapshot'):
        if snap.status not in ('available', 'error', 'error_deleting'):
            snap.reset_status('error')
        snap.delete()
    for vol in _find('volume'):
        if vol.status not in ('available', 'error', 'error_deleting'):
            vol.reset_status('error')
        vol.delete()


def _pause_inside_driver(host: Host, after: int, seconds: float) -> None:
    """Test instrument for the kill: once ``after`` operations are done, each driver call of
    this host journals 'in-driver' when the driver has done its work and then waits
    ``seconds`` before cinder_nb records the outcome. The test's SIGKILL lands in that
    wait, so the storage exists (or is gone) while the record still says 'creating',
    'deleting', ... exactly what a host dying mid-operation leaves behind."""
    driver = host.backend.driver
    for name in ('create_volume', 'delete_volume', 'extend_volume', 'create_cloned_volume',
                 'create_snapshot', 'delete_snapshot', 'create_volume_from_snapshot',
                 'initialize_connection', 'terminate_connection'):
        real = getattr(driver, name)

        def paused(*a, _real=real, _name=name, **kw):
            result = _real(*a, **kw)
            if host.n >= after:
                host.journal.write(ph='in-driver', n=host.n, call=_name)
                time.sleep(seconds)
            return result
        setattr(driver, name, paused)


def _wait_for(path: str) -> None:
    while not os.path.exists(path):
        time.sleep(0.01)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument('mode', choices=('run', 'recover'))
    ap.add_argument('--config', required=True)
    ap.add_argument('--host', required=True)
    args = ap.parse_args(argv)
    with open(args.config) as f:
        cfg = json.load(f)
    journal = Journal(os.path.join(cfg['journal_dir'], f'{args.host}-{args.mode}.jsonl'), args.host)
    host = Host(cfg, args.host, journal)
    if args.mode == 'run':
        if args.host == cfg.get('victim'):
            _pause_inside_driver(host, cfg['kill_after_ops'], 0.05)
        journal.write(ph='ready')
        _wait_for(cfg['go_file'])       # start together, once every host is ready
        host.run(cfg['ops_per_host'])
        journal.write(ph='done')
    else:
        # recover, let the test check, then delete everything (what is left afterwards leaked)
        _fix_stuck(journal, 'recover')
        journal.write(ph='recovered')
        _wait_for(cfg['checked_file'])
        teardown(journal)
        journal.write(ph='torn-down')
    return 0


if __name__ == '__main__':
    sys.exit(main())
