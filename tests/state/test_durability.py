"""Atomic writes under kill -9, and two processes sharing one SQLite file."""
from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time

import pytest

import cinder_nb as cnb
from cinder_nb import _runtime, serialization
from cinder_nb.persistence.sql import SQLPersistence
from tests.state.workers import valid

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class Worker:
    """A worker subprocess whose committed-progress lines are collected as they come."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen([sys.executable, '-m', 'tests.state.workers', *args], cwd=ROOT,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        self.first = threading.Event()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            parts = line.split()
            # only a whole 'TAG N' line confirms a commit; kill -9 can cut the last one short
            if line.endswith('\n') and len(parts) >= 1 and (len(parts) == 1 or parts[1].isdigit()):
                self.lines.append(parts)
            self.first.set()

    def kill_after(self, seconds: float) -> None:
        assert self.first.wait(120), self.proc.stderr.read() if self.proc.poll() is not None else 'no output'
        time.sleep(seconds)
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self.reader.join(10)
        assert self.proc.returncode == -signal.SIGKILL, self.proc.stderr.read()

    def last(self, tag: str) -> int:
        return max((int(p[1]) for p in self.lines if p[0] == tag and len(p) == 2), default=0)


def test_kill_9_during_store_writes_leaves_old_or_new_records(tmp_path):
    db = str(tmp_path / 'crash.db')
    rng = random.Random(1234)
    gen = 0
    prev_solo = None
    left_over: set = set()
    for _ in range(6):
        worker = Worker('store', db, str(gen))
        worker.kill_after(rng.uniform(0.02, 0.5))
        with sqlite3.connect(db) as raw:
            assert raw.execute('PRAGMA integrity_check').fetchone()[0] == 'ok'
        store = SQLPersistence(f'sqlite:///{db}')
        batch = store.list('volume')
        assert len(batch) == 20 and all(valid(r) for r in batch)
        gens = {r['gen'] for r in batch}
        assert len(gens) == 1, f'a batch was torn: generations {gens}'          # all or nothing
        committed = worker.last('B')
        assert committed >= 1 and gens.pop() in (committed, committed + 1)     # durable, atomic
        [solo] = store.list('snapshot')
        last_s = worker.last('S')
        # killed before this round's first 'S' line: the previous round's record or the next one
        assert valid(solo) and solo['gen'] in ((last_s, last_s + 1) if last_s else (prev_solo, gen + 1))
        prev_solo = solo['gen']
        tmp = {r['gen'] for r in store.list('connection')}
        assert all(valid(r) for r in store.list('connection'))
        # the create-then-delete pair: the newest committed one is there, nothing else new
        last_t = worker.last('T')
        # each pair creates tmp-(g+1) before deleting tmp-g: the newest committed one, or
        # its successor once that is committed, is always there
        assert not last_t or tmp & {last_t, last_t + 1}, (tmp, last_t)
        # before its first 'T' line the worker may already have written tmp-(start+1)
        base = last_t or gen
        assert tmp <= {base, base + 1} | left_over, (tmp, last_t, gen, left_over)
        left_over = tmp
        gen = max(r['gen'] for r in batch + [solo])
        store.close()


def test_kill_9_during_state_file_writes_leaves_old_or_new_file(tmp_path):
    path = str(tmp_path / 'state.json')
    rng = random.Random(99)
    gen = 0
    for _ in range(3):
        worker = Worker('file', path, str(gen))
        worker.kill_after(rng.uniform(0.02, 0.4))
        with open(path) as f:
            doc = json.load(f)
        assert doc['gen'] in (worker.last('F'), worker.last('F') + 1)
        assert all(valid(r) and r['gen'] == doc['gen'] for r in doc['records'])
        temps = [n for n in os.listdir(tmp_path) if n.endswith('.tmp')]
        assert len(temps) <= 1                   # at most the one interrupted temp file
        for name in temps:
            os.unlink(tmp_path / name)
        gen = doc['gen']


def test_kill_9_during_api_operations_leaves_a_loadable_state(tmp_path):
    db = str(tmp_path / 'api.db')
    for seconds in (0.4, 0.8):
        worker = Worker('api', db, str(tmp_path))
        worker.kill_after(seconds)
        with sqlite3.connect(db) as raw:
            assert raw.execute('PRAGMA integrity_check').fetchone()[0] == 'ok'
    # every stored record is complete and the state as a whole passes load()'s checks
    _runtime.setup({'path': db}, state_dir=str(tmp_path / 'st'))
    lab = cnb.embedded(str(tmp_path / 'vols'), name='lab', local_file_attach_mode='file')
    doc = json.loads(cnb.dumps())
    assert doc['volumes']
    serialization.check(doc)
    for vol in lab.volumes:
        if vol.status == 'available':
            assert os.path.getsize(vol.provider_location) == vol.size << 30


def test_two_processes_sharing_one_sqlite_file_lose_nothing(tmp_path):
    db = str(tmp_path / 'shared.db')
    procs = [subprocess.Popen([sys.executable, '-m', 'tests.state.workers', 'churn', db, str(tmp_path), tag,
                               '500'], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for tag in ('A', 'B')]
    kept = set()
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-3000:]
        kept |= set(json.loads(out.strip().splitlines()[-1]))
    assert len(kept) == 2 * 334 - 2 * 166
    store = SQLPersistence(f'sqlite:///{db}')
    rows = store.list('volume')
    assert {r['id'] for r in rows} == kept and len(rows) == len(kept)
    assert all(r['status'] == 'available' for r in rows)
    assert {r['name'][0] for r in rows} == {'A', 'B'}
    files = set(os.listdir(tmp_path / 'vols' / 'volumes'))
    assert files == {f'volume-{i}' for i in kept}


def test_an_object_deleted_by_another_process_is_not_brought_back(tmp_path):
    db = str(tmp_path / 's.db')
    _runtime.setup({'path': db}, state_dir=str(tmp_path / 'st'))
    lab = cnb.embedded(str(tmp_path / 'vols'), name='lab', local_file_attach_mode='file')
    vol, other = lab.create_volume(1), lab.create_volume(1)
    elsewhere = SQLPersistence(f'sqlite:///{db}')       # what another process sharing the file does
    elsewhere.delete('volume', vol.id)
    with pytest.raises(cnb.NotFound, match='Another process'):
        vol.extend(2)
    assert elsewhere.get('volume', vol.id) is None and vol.status == 'deleted'
    assert [v.id for v in lab.volumes] == [other.id]
    # a change made by the other process shows in this one's live object
    row = elsewhere.get('volume', other.id)
    row.update(name='renamed', updated_at='2999-01-01T00:00:00+00:00')
    elsewhere.put('volume', row)
    assert _runtime.get().get('volume', other.id) is other and other.name == 'renamed'
    elsewhere.delete('volume', other.id)
    assert lab.volumes == [] and other.status == 'deleted'
    elsewhere.close()



def _open_at_barrier(path: str, barrier, error_file: str) -> None:
    barrier.wait()
    try:
        SQLPersistence(f'sqlite:///{path}').engine.dispose()
    except Exception as exc:
        with open(error_file, 'w') as f:
            f.write(repr(exc))
        os._exit(1)
    os._exit(0)


def test_processes_opening_a_fresh_sqlite_file_at_once_all_succeed(tmp_path):
    """Switching a fresh file to WAL answers 'locked' without SQLite's busy handler; opening waits."""
    import multiprocessing
    ctx = multiprocessing.get_context('fork')
    exits = []
    for round_ in range(40):
        barrier = ctx.Barrier(4)
        path = str(tmp_path / f'fresh-{round_}.db')
        procs = [ctx.Process(target=_open_at_barrier, args=(path, barrier, f'{path}.{n}.err'))
                 for n in range(4)]
        for proc in procs:
            proc.start()
        for proc in procs:
            proc.join(120)
            exits.append(proc.exitcode)
    errors = [p.read_text() for p in tmp_path.glob('*.err')]
    assert exits == [0] * 160 and not errors, errors[:3]
