"""A process-per-command client in the style of oVirt's Managed Block Storage cinderlib client.

``python -m tests.cinderlib.client COMMAND DB_URL LOCKS DRIVER_JSON [ARGS...]``: every
command is a fresh process that sets up cinderlib (cinder_nb.cinderlib) on the shared
database, creates its backend from the driver JSON, does one thing with caller-chosen ids
and prints one JSON line (``{"error": type, "message": ...}`` on a cinder_nb error).
"""
from __future__ import annotations

import json
import sys


def run(command: str, db_url: str, locks: str, driver: dict, args: list[str]) -> object:
    import cinder_nb.cinderlib as cl
    cl.setup(persistence_config={'storage': 'db', 'connection': db_url}, file_locks_path=locks,
             disable_logs=True)
    backend = cl.Backend(**driver)

    def volume(vol_id: str):
        found = backend.volumes_filtered(volume_id=vol_id)
        if not found:
            raise cl.exception.VolumeNotFound('volume', vol_id)
        return found[0]

    if command == 'create_volume':
        vol = backend.create_volume(size=int(args[1]), id=args[0], name=args[0])
        return {'id': vol.id, 'size': vol.size, 'status': vol.status}
    if command == 'stats':
        pools = backend.stats(refresh=True)['pools']
        return {'allocated_gb': sum(p['allocated_capacity_gb'] for p in pools),
                'total_gb': sum(p['total_capacity_gb'] for p in pools)}
    if command == 'connect':
        conn = volume(args[0]).connect(json.loads(args[1]))
        return {'connection_id': conn.id, 'conn': conn.connection_info['conn']}
    if command == 'save_device':
        conn = backend.persistence.get_connections(connection_id=args[0])[0]
        conn.device_attached(json.loads(args[1]))
        return {'attached': conn.attached}
    if command == 'connection_info':
        return [c.connection_info for c in volume(args[0]).connections]
    if command == 'extend':
        return {'new_size_bytes': volume(args[0]).extend(int(args[1]))}
    if command == 'clone':
        clone = volume(args[0]).clone(id=args[1], name=args[1])
        return {'id': clone.id, 'source_volid': clone.source_volid, 'size': clone.size}
    if command == 'create_snapshot':
        snap = volume(args[0]).create_snapshot(name=args[1])
        return {'id': snap.id, 'status': snap.status}
    if command == 'create_from_snapshot':
        snap = cl.Snapshot.get_by_id(args[0])
        new = snap.create_volume(id=args[1], name=args[1])
        return {'id': new.id, 'snapshot_id': new.snapshot_id, 'size': new.size}
    if command == 'remove_snapshot':
        cl.Snapshot.get_by_id(args[0]).delete()
        return {'deleted': args[0]}
    if command == 'disconnect':
        vol = volume(args[0])
        for conn in vol.connections:
            conn.disconnect()
        vol.refresh()
        return {'status': vol.status, 'connections': len(vol.connections)}
    if command == 'delete':
        vol = volume(args[0])
        vol.delete()
        return {'deleted': vol.deleted}
    if command == 'list':
        return sorted((v.id, v.size, v.status) for v in backend.volumes)
    raise SystemExit(f'unknown command {command}')


def main(argv: list[str]) -> int:
    command, db_url, locks, driver, *args = argv
    from cinder_nb.errors import CinderNBError
    try:
        out = run(command, db_url, locks, json.loads(driver), args)
    except CinderNBError as exc:
        out = {'error': type(exc).__name__, 'message': str(exc)}
    print(json.dumps(out), flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
