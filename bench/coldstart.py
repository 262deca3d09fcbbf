"""Workload 2: cold start, measured inside a fresh interpreter.

Run by run_all.py once per repetition in a new process: times ``import <lib>``,
then set-up + embedded backend + first ``create_volume(1)`` until the volume is
available, and reports the process's peak RSS (ru_maxrss). The parent also
measures the wall time of the whole process (interpreter start to exit).

``--lib floor`` is the measured floor of any library that runs a Cinder driver in-process:
only the Cinder imports such a host cannot avoid (eventlet, the versioned objects registered,
the request context, coordination, the volume driver base and its configuration), no library,
no set-up and no volume. Its "first volume" time is that import time.

Usage: python coldstart.py --lib nb|nb-sqlite|cinderlib|floor --work-dir DIR
"""
from __future__ import annotations

import time

T0 = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import warnings  # noqa: E402

EMBEDDED = 'cinder_nb.drivers.localfile.LocalFileDriver'


def main() -> None:
    warnings.simplefilter('ignore')
    parser = argparse.ArgumentParser()
    parser.add_argument('--lib', choices=('nb', 'nb-sqlite', 'cinderlib', 'floor'), required=True)
    parser.add_argument('--work-dir', required=True)
    args = parser.parse_args()
    work = args.work_dir
    t_start = time.perf_counter()
    if args.lib == 'floor':
        import eventlet  # noqa: F401
        from cinder import objects
        objects.register_all()
        from cinder import context, coordination, utils  # noqa: F401
        from cinder.volume import configuration, driver  # noqa: F401
        t_import = t_vol = time.perf_counter()
        print(json.dumps({'lib': args.lib, 'import_s': t_import - t_start, 'first_volume_s': t_vol - t_start,
                          'setup_to_volume_s': 0.0, 'script_s': t_vol - T0,
                          'maxrss_mib': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
        return
    if args.lib.startswith('nb'):
        import cinder_nb as cnb
        t_import = time.perf_counter()
        cnb.setup('memory' if args.lib == 'nb' else None, state_dir=os.path.join(work, 'state'))
        lab = cnb.embedded(os.path.join(work, 'vols'))
        vol = lab.create_volume(1, name='first')
    else:
        import cinderlib as cl
        t_import = time.perf_counter()
        cl.setup(file_locks_path=os.path.join(work, 'locks'), disable_logs=True)
        lab = cl.Backend('lab', volume_driver=EMBEDDED, local_file_path=os.path.join(work, 'vols'))
        vol = lab.create_volume(1, name='first')
    t_vol = time.perf_counter()
    assert vol.status == 'available', vol.status
    print(json.dumps({'lib': args.lib, 'import_s': t_import - t_start,
                      'first_volume_s': t_vol - t_start, 'setup_to_volume_s': t_vol - t_import,
                      'script_s': t_vol - T0,
                      'maxrss_mib': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


if __name__ == '__main__':
    main()
