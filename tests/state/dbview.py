"""What a Cinder driver sees through cinder.db.api for a volume (used in and out of process).

``python -m tests.state.dbview <persistence_config-json> <state_dir> <volumes_dir> <volume_id>``
opens the given persistence in a new process, loads the embedded backend 'lab' and
prints the view as JSON: the check that a second process sharing the store gets
the same answers.
"""
from __future__ import annotations

import json
import sys


def volume_view(volume_id: str) -> dict:
    """The answers of the patched cinder.db.api functions for one volume."""
    from cinder.db import api as db
    from cinder_nb import _cinder
    ctxt = _cinder.context()
    vol = db.volume_get(ctxt, volume_id)
    vtype = vol.volume_type
    return {
        'id': vol.id, 'size': vol.size, 'status': vol.status, 'display_name': vol.display_name,
        'host': vol.host, 'metadata': dict(vol.metadata),
        'type_extra_specs': dict(vtype.extra_specs) if vtype else None,
        'extra_specs': db.volume_type_extra_specs_get(ctxt, vol.volume_type_id) if vtype else None,
        'volume_metadata': db.volume_metadata_get(ctxt, volume_id),
        'snapshots': sorted(s.id for s in db.snapshot_get_all_for_volume(ctxt, volume_id)),
        'snapshot_sizes': sorted(s.volume_size for s in db.snapshot_get_all_for_volume(ctxt, volume_id)),
        'qos': db.qos_specs_get(ctxt, vtype.qos_specs_id)['specs'] if vtype and vtype.qos_specs_id else None,
        'on_host': sorted(v.id for v in db.volume_get_all_by_host(ctxt, vol.host)),
    }


def main(argv: list[str]) -> None:
    import cinder_nb as cnb
    config, state_dir, volumes_dir, volume_id = json.loads(argv[0]), argv[1], argv[2], argv[3]
    cnb.setup(config, state_dir=state_dir)
    cnb.embedded(volumes_dir, name='lab', local_file_attach_mode='file')
    print(json.dumps(volume_view(volume_id), sort_keys=True))


if __name__ == '__main__':
    main(sys.argv[1:])
