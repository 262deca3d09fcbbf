"""Worker processes of the crash and concurrency tests (``python -m tests.state.workers MODE ...``).

- ``store DB START``: writes generations to a SQLite store forever: a 20-record batch
  (put_many), a single record, and a create-then-delete pair; prints ``B g``/``S g``/``T g``
  after each commit.
- ``file PATH START``: rewrites a JSON file atomically (persistence.files.write_file) forever.
- ``api DB DIR``: creates, extends, snapshots and deletes volumes through the real API forever.
- ``churn DB DIR TAG OPS``: OPS create/delete operations through the real API on a shared
  SQLite store; prints the ids of the volumes it left, as JSON.
"""
from __future__ import annotations

import hashlib
import json
import os
import random
import sys


def record(ident: str, gen: int, rng: random.Random) -> dict:
    payload = 'x' * rng.randrange(10, 3000)
    digest = hashlib.sha256(f'{ident}:{gen}:{payload}'.encode()).hexdigest()
    return {'id': ident, 'backend': 'crash', 'gen': gen, 'payload': payload, 'sum': digest}


def valid(rec: dict) -> bool:
    return rec['sum'] == hashlib.sha256(f"{rec['id']}:{rec['gen']}:{rec['payload']}".encode()).hexdigest()


def _without_cinder() -> None:
    """Import cinder_nb submodules without the package's __init__ (which loads Cinder: ~2 s)."""
    import importlib.util
    import types
    spec = importlib.util.find_spec('cinder_nb')
    pkg = types.ModuleType('cinder_nb')
    pkg.__path__ = list(spec.submodule_search_locations)
    sys.modules['cinder_nb'] = pkg


def store_loop(db: str, gen: int) -> None:
    _without_cinder()
    from cinder_nb.persistence.sql import SQLPersistence
    store = SQLPersistence(f'sqlite:///{db}')
    rng = random.Random(gen)
    while True:
        gen += 1
        store.put_many([('volume', record(f'v{i}', gen, rng)) for i in range(20)])
        print('B', gen, flush=True)
        store.put('snapshot', record('solo', gen, rng))
        print('S', gen, flush=True)
        store.put('connection', record(f'tmp-{gen}', gen, rng))
        store.delete('connection', f'tmp-{gen - 1}')
        print('T', gen, flush=True)


def file_loop(path: str, gen: int) -> None:
    _without_cinder()
    from cinder_nb.persistence.files import write_file
    rng = random.Random(gen)
    while True:
        gen += 1
        write_file(path, json.dumps({'gen': gen, 'records': [record(f'r{i}', gen, rng) for i in range(50)]}))
        print('F', gen, flush=True)


def api_loop(db: str, directory: str) -> None:
    import cinder_nb as cnb
    cnb.setup({'path': db}, state_dir=os.path.join(directory, 'st'))
    lab = cnb.embedded(os.path.join(directory, 'vols'), name='lab', local_file_attach_mode='file')
    rng = random.Random()
    while True:
        vols = lab.volumes
        if len(vols) < 8 or rng.random() < 0.5:
            vol = lab.create_volume(1, metadata={'n': str(len(vols))})
            vol.create_snapshot()
        else:
            vol = rng.choice(vols)
            if vol.status not in ('available', 'error'):   # left mid-operation by a killed run
                vol.reset_status('error')
                continue
            if rng.random() < 0.5 and vol.status == 'available':
                vol.extend(vol.size + 1)
            else:
                for snap in vol.snapshots:
                    if snap.status not in ('available', 'error'):
                        snap.reset_status('error')   # what a user does after a crash
                    snap.delete()
                vol.delete()
        print('A', flush=True)


def churn(db: str, directory: str, tag: str, ops: int) -> None:
    import cinder_nb as cnb
    cnb.setup({'path': db}, state_dir=os.path.join(directory, 'st-' + tag))
    lab = cnb.embedded(os.path.join(directory, 'vols'), name='lab', local_file_attach_mode='file')
    mine: list = []
    for k in range(ops):
        if k % 3 == 2:
            mine.pop(0).delete()
        else:
            mine.append(lab.create_volume(1, name=f'{tag}-{k}'))
        if k % 25 == 0:          # look at everything, the other process's volumes included
            assert all(v.status == 'available' or v.status in ('creating', 'deleting') for v in lab.volumes)
    print(json.dumps(sorted(v.id for v in mine)), flush=True)


if __name__ == '__main__':
    mode, args = sys.argv[1], sys.argv[2:]
    if mode == 'store':
        store_loop(args[0], int(args[1]))
    elif mode == 'file':
        file_loop(args[0], int(args[1]))
    elif mode == 'api':
        api_loop(args[0], args[1])
    elif mode == 'churn':
        churn(args[0], args[1], args[2], int(args[3]))
    else:
        raise SystemExit(f'unknown mode {mode}')
