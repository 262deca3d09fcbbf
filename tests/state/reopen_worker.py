"""A new process on an existing state (``python -m tests.state.reopen_worker CONFIG DIR IDS``).

Looks everything up by cinderlib's names before any backend is loaded, extends the
volume (which reopens its backend by itself), then lists every backend; prints one
JSON line with what it saw, or ``{"error": <type>, "message": ...}``.
"""
from __future__ import annotations

import json
import os
import sys


def main(config: dict, directory: str, ids: dict) -> dict:
    import cinder_nb as cnb
    secrets = config.pop('_secrets', None)
    cnb.setup(config.pop('url', None) or config, state_dir=os.path.join(directory, 'st-reopen'),
              secrets=secrets)
    seen: dict = {'loaded_at_start': sorted(cnb.Backend.backends)}
    vol = cnb.Volume.get_by_id(ids['volume'])
    seen['volume'] = [vol.id, vol.name, vol.size, vol.status]
    seen['by_name'] = [v.id for v in cnb.Volume.get_by_name('data')]
    snap = cnb.Snapshot.get_by_id(ids['snapshot'])
    seen['snapshot'] = [snap.id, snap.volume_id, snap.status]
    seen['snap_by_name'] = [s.id for s in cnb.Snapshot.get_by_name('before')]
    conn = cnb.Connection.get_by_id(ids['connection'])
    seen['connection'] = [conn.id, conn.volume_id, conn.status]
    try:
        cnb.Volume.get_by_id('no-such-volume')
    except cnb.NotFound as exc:
        seen['missing'] = type(exc).__name__
    seen['loaded_before_op'] = sorted(cnb.Backend.backends)
    try:
        vol.extend(2)                                   # reopens the volume's backend
        seen['loaded_after_op'] = sorted(cnb.Backend.backends)
        seen['file_size'] = os.path.getsize(vol.provider_location)
        seen['backends'] = [b.name for b in cnb.backends()]
    except cnb.CinderNBError as exc:
        seen['error'] = type(exc).__name__
        seen['message'] = str(exc)
    return seen


if __name__ == '__main__':
    print(json.dumps(main(json.loads(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3]))), flush=True)
