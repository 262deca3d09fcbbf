"""Give a notebook's backend thousands of volumes in seconds (bench/console_refresh.py at 1,000 and 10,000).

Creating volumes one by one costs O(N) each (every create re-reads the pool's stats and the recorded
sizes for Cinder's capacity check), so 10,000 creates take hours. make() creates one volume through
the driver, then writes the other n-1 the way the embedded driver would (a sparse file of the size
under <local_file_path>/volumes) and loads their records as a saved state (cinder_nb.load).
"""
from __future__ import annotations

import json
import os
import uuid

import cinder_nb as cnb


def make(lab, n: int, size: int = 1) -> list:
    """n volumes named data-0000 .. on the embedded backend `lab` (the first one made by its driver)."""
    first = lab.create_volume(size, name='data-0000')
    state = json.loads(cnb.dumps())
    template = next(v for v in state['volumes'] if v['id'] == first.id)
    folder = os.path.dirname(template['driver_data']['provider_location'])
    records = [template]
    for i in range(1, n):
        ident = str(uuid.uuid4())
        path = os.path.join(folder, f'volume-{ident}')
        with open(path, 'xb') as f:
            f.truncate(size << 30)
        records.append(dict(template, id=ident, name=f'data-{i:04d}', driver_data={'provider_location': path}))
    state['volumes'] = records
    cnb.load(state, save=True)
    return [cnb.Volume.get_by_id(r['id']) for r in records]
