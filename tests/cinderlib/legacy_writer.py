"""Runs under REAL cinderlib 5.2.0 (its own venv): writes a deployment's state to migrate.

``python legacy_writer.py PERSISTENCE_JSON VOLUMES_DIR LOCKS`` creates, on the embedded
driver, a volume with data, a typed volume (extra/QoS specs, metadata), a snapshot, a
volume from that snapshot and a connection with a recorded device, then prints one JSON
line: the ids and ``cinderlib.dumps()``.
"""
import json
import os
import sys

import cinderlib as cl

persistence, volumes, locks = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]
cl.setup(persistence_config=persistence, file_locks_path=locks, disable_logs=True)
backend = cl.Backend(volume_backend_name='legacy', volume_driver='cinder_nb.drivers.localfile.LocalFileDriver',
                     local_file_path=volumes, local_file_attach_mode='file')
data = backend.create_volume(1, name='data', id='0b7e3c52-5a4f-4f8a-9f1e-6d8a1c2b3a01')
with open(os.path.join(volumes, 'volumes', data.name_in_storage), 'r+b') as f:
    f.seek(3 << 20)
    f.write(b'cinderlib wrote this' * 10)
# cinderlib 5.2's db persistence cannot store QoS specs on PostgreSQL (it rewrites the
# parent row's id under a foreign key: ForeignKeyViolation), so none there
on_postgresql = str(persistence.get('connection', '')).startswith('postgres')
qos = {} if on_postgresql else {'qos_specs': {'read_iops_sec': '500'}}
typed = backend.create_volume(2, name='typed', extra_specs={'thin': 'true'}, metadata={'owner': 'ovirt'},
                              **qos)
snap = data.create_snapshot(name='before')
restored = snap.create_volume(name='restored')
conn = data.connect({'host': 'hv-legacy', 'ip': '192.0.2.30', 'multipath': False})
conn.device_attached({'type': 'file', 'path': '/dev/fake-on-hv-legacy'})
print(json.dumps({'data': data.id, 'typed': typed.id, 'snapshot': snap.id, 'restored': restored.id,
                  'connection': conn.id, 'dumps': cl.dumps()}))
