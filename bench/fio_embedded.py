"""fio on the embedded backend through cinder_nb.notebook.fio: the five presets, loop device and file attach.

    .venv/bin/python bench/fio_embedded.py [RUNTIME_S]      # default 5 s per run

Prints one table row per workload, attach target and direction (IOPS, MiB/s, latency in µs).
The volume's first 256 MiB are written before the read runs, so reads do not just hit holes.
Loop-device runs need root; without it only the file rows appear. Numbers depend on the
machine's load: this is a measurement to look at, not a pass/fail figure.
"""
from __future__ import annotations

import os
import sys
import tempfile

import pandas as pd

import cinder_nb as cnb
from cinder_nb.drivers.localfile import loop_devices_available
from cinder_nb.notebook.fio_runs import PRESETS, fio

SIZE = '256M'


def main(runtime: float) -> pd.DataFrame:
    work = tempfile.mkdtemp(prefix='cinder_nb-bench-fio-')
    cnb.setup('memory', state_dir=work)
    modes = ['loop', 'file'] if loop_devices_available() else ['file']
    frames = []
    for mode in modes:
        lab = cnb.embedded(os.path.join(work, mode), name=f'embedded-{mode}', local_file_attach_mode=mode)
        vol = lab.create_volume(1, name=f'bench-{mode}')
        fio(vol, 'write', runtime=runtime, size=SIZE, progress=False, time_based=0)   # fill the region once
        for workload in PRESETS:
            frames.append(fio(vol, workload, runtime=runtime, size=SIZE, overwrite=True, progress=False))
        vol.delete()
    df = pd.concat(frames, ignore_index=True)
    cols = ['workload', 'target', 'direction', 'bs_bytes', 'iodepth', 'iops', 'bw_mib_s', 'lat_mean_us',
            'lat_p50_us', 'lat_p95_us', 'lat_p99_us', 'lat_p99_9_us']
    print(f'fio {df["fio_version"][0]}, {runtime:g} s per run, region {SIZE} of a 1 GiB embedded volume')
    print(df[cols].round(1).to_markdown(index=False) if _has_tabulate() else df[cols].round(1).to_string(index=False))
    return df


def _has_tabulate() -> bool:
    try:
        import tabulate  # noqa: F401
    except ImportError:
        return False
    return True


if __name__ == '__main__':
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 5.0)
