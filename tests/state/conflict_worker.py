"""The other process of the conflict tests (``python -m tests.state.conflict_worker MODE CONFIG DIR ...``).

- ``extend CONFIG DIR VOLUME_ID SIZE``: look the volume up in the shared state (its backend
  reopens from the stored configuration) and extend it; prints ``{"size": ...}``.
- ``set_status CONFIG DIR VOLUME_ID STATUS``: reset_status() on the volume.
- ``recreate CONFIG DIR VOLUME_ID SIZE``: delete the volume, then create a new one with the
  same id and SIZE GiB (a new incarnation of the same record id).
- ``create CONFIG DIR BACKEND SIZE``: reopen the stored backend and create a volume of SIZE
  GiB on it; prints ``{"id": ..., "size": ...}``.
- ``delete CONFIG DIR VOLUME_ID``: delete the volume.
- ``hammer CONFIG DIR VOLUME_ID OPS SEED [GO_FILE]``: OPS random operations on the one shared
  volume through this process's (often stale) object: extend by 1 GiB, snapshot then delete
  the snapshot, connect then disconnect; counts what went through and the typed refusals.
  With GO_FILE: prints ``ready`` once set up and starts when that file exists, so that the
  workers' operations overlap (30 operations take less time than a process's start).
"""
from __future__ import annotations

import json
import os
import random
import sys
import time


def main(mode: str, config: str, directory: str, *args: str) -> dict:
    import cinder_nb as cnb
    cfg = json.loads(config)
    cnb.setup(cfg, state_dir=os.path.join(directory, f'st-worker-{os.getpid()}'))
    if mode == 'create':
        vol = cnb.Backend.open(args[0]).create_volume(int(args[1]))
        return {'id': vol.id, 'size': vol.size}
    vol = cnb.Volume.get_by_id(args[0])
    if mode == 'delete':
        vol.delete()
        return {'deleted': vol.id}
    if mode == 'extend':
        vol.extend(int(args[1]))
    elif mode == 'set_status':
        vol.reset_status(args[1])
    elif mode == 'recreate':
        backend = vol.backend
        vol.delete()
        vol = backend.create_volume(int(args[1]), id=args[0], name='second-life')
    elif mode == 'hammer':
        if len(args) > 3:
            print('ready', flush=True)
            while not os.path.exists(args[3]):
                time.sleep(0.005)
        return hammer(cnb, vol, int(args[1]), int(args[2]))
    else:
        raise SystemExit(f'unknown mode {mode}')
    return {'size': vol.size, 'status': vol.status}


def hammer(cnb, vol, ops: int, seed: int) -> dict:
    rng = random.Random(seed)
    done = {'extend': 0, 'snapshot': 0, 'connect': 0, 'refused': 0}
    for _ in range(ops):
        op = rng.choice(('extend', 'snapshot', 'connect'))
        try:
            if op == 'extend':
                vol.extend(vol.size + 1)          # vol.size may be stale: refused on fresh data
            elif op == 'snapshot':
                vol.create_snapshot().delete()
            else:
                conn = vol.connect({'host': f'h{os.getpid()}'})
                conn.disconnect()
            done[op] += 1
        except (cnb.InvalidState, cnb.InvalidArgument) as exc:
            done['refused'] += 1
            done.setdefault('refusals', {}).setdefault(type(exc).__name__, 0)
            done['refusals'][type(exc).__name__] += 1
    return done


if __name__ == '__main__':
    print(json.dumps(main(*sys.argv[1:])), flush=True)
