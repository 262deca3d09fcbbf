"""Workload 3: state size scaling (dumps, load, DataFrame) for 1k, 10k, 100k volumes.

Creating 100k volumes through the driver would measure the filesystem, so the
state is *generated*: one real volume is created through the library's API, its
serialized record is replicated N times with fresh ids (``gen``), and a fresh
process then goes through the library's own ``load(text, save=True)`` and
``dumps()`` (``measure``); for cinder_nb also ``cinder_nb.notebook.volumes_df()``.
The backend is started before the timed load in both libraries, so the timings
are for the volumes only.

Usage:
  python state_scale.py gen --lib nb|cinderlib --n 10000 --work-dir DIR --out state.json
  python state_scale.py measure --lib nb|cinderlib --state state.json --work-dir DIR [--persistence memory|sqlite]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import clock, emit, maxrss_mib, median, quiet_warnings  # noqa: E402

EMBEDDED = 'cinder_nb.drivers.localfile.LocalFileDriver'


def _backend(lib: str, work: str, persistence: str = 'memory'):
    vols = os.path.join(work, 'vols')
    if lib == 'nb':
        import cinder_nb as cnb
        config = 'memory' if persistence == 'memory' else f"sqlite:///{work}/state-{uuid.uuid4().hex}.db"
        cnb.setup(config, state_dir=os.path.join(work, 'state'))
        return cnb.embedded(vols, name='lab', local_file_attach_mode='file')
    import cinderlib as cl
    cl.setup(file_locks_path=os.path.join(work, 'locks'), disable_logs=True)
    return cl.Backend('lab', volume_driver=EMBEDDED, local_file_path=vols, local_file_attach_mode='file')


def generate(lib: str, n: int, work: str) -> str:
    """A state document with n volumes replicated from one real volume's serialized record."""
    lab = _backend(lib, work)
    vol = lab.create_volume(1, name='template')
    if lib == 'nb':
        import cinder_nb as cnb
        doc = json.loads(cnb.dumps())
        template = json.dumps(doc['volumes'][0])
        doc['volumes'] = [json.loads(template.replace(vol.id, str(uuid.uuid4())).replace(
            '"template"', f'"vol-{i}"')) for i in range(n)]
        return json.dumps(doc)
    import cinderlib as cl
    doc = json.loads(cl.dumps())          # [ {class: Backend, backend: cfg, volumes: [...]} ]
    template = json.dumps(doc[0]['volumes'][0])
    doc[0]['volumes'] = [json.loads(template.replace(vol.id, str(uuid.uuid4())).replace(
        '"template"', f'"vol-{i}"')) for i in range(n)]
    return json.dumps(doc)


def _volumes_df():
    try:
        from cinder_nb.notebook import volumes_df
        return volumes_df
    except ImportError:
        try:
            from cinder_nb.notebook.frames import volumes_df
            return volumes_df
        except ImportError:
            return None


def measure(lib: str, state_file: str, work: str, persistence: str, repeats: int = 3) -> dict:
    """Fresh process: load the document (save=True), then dumps() and the DataFrame."""
    with open(state_file) as f:
        text = f.read()
    lab = _backend(lib, work, persistence)
    result: dict = {'lib': lib, 'persistence': persistence, 'state_bytes': len(text)}
    if lib == 'nb':
        import cinder_nb as cnb
        t0 = clock()
        loaded = cnb.load(text, save=True)
        result['load_s'] = clock() - t0
        n = len(loaded['volumes'])
        dump_times = []
        for _ in range(repeats):
            out = None      # one dumps() text alive at a time, as a caller keeping one would have
            t0 = clock()
            out = cnb.dumps()
            dump_times.append(clock() - t0)
        # the peak of dumps+load, before this script's own check below parses the text again
        result['maxrss_mib'] = maxrss_mib()
        result['dumps_n'] = len(json.loads(out)['volumes'])
        del out
        frame = _volumes_df()
        if frame is None:
            result['df_s'] = None
            result['df_note'] = 'cinder_nb.notebook.volumes_df not available'
        else:
            df_times = []
            for _ in range(repeats):
                t0 = clock()
                df = frame(lab)
                df_times.append(clock() - t0)
            result['df_s'] = median(df_times)
            result['df_rows'] = len(df)
    else:
        import cinderlib as cl
        t0 = clock()
        loaded = cl.load(text, save=True)
        result['load_s'] = clock() - t0
        n = len(loaded[0].volumes)
        dump_times = []
        for _ in range(repeats):
            out = None
            t0 = clock()
            out = cl.dumps()
            dump_times.append(clock() - t0)
        result['maxrss_mib'] = maxrss_mib()
        result['dumps_n'] = len(json.loads(out)[0]['volumes'])
        result['df_s'] = None
        result['df_note'] = 'cinderlib has no DataFrame view'
    result['n'] = n
    result['dumps_s'] = median(dump_times)
    result['maxrss_all_mib'] = maxrss_mib()     # with the check's parse and volumes_df
    del lab
    return result


def main() -> None:
    quiet_warnings()
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('mode', choices=('gen', 'measure'))
    parser.add_argument('--lib', choices=('nb', 'cinderlib'), default='nb')
    parser.add_argument('--n', type=int, default=1000)
    parser.add_argument('--state')
    parser.add_argument('--persistence', choices=('memory', 'sqlite'), default='memory')
    parser.add_argument('--work-dir', required=True)
    parser.add_argument('--out')
    parser.add_argument('--stdlib', action='store_true',
                        help='cinder_nb without orjson and fastjsonschema (json + jsonschema only), for a '
                             'side-by-side comparison')
    args = parser.parse_args()
    if args.stdlib and args.lib == 'nb':
        from cinder_nb import serialization
        serialization._orjson = None
        serialization._fast_validator = lambda: None
    if args.mode == 'gen':
        text = generate(args.lib, args.n, args.work_dir)
        with open(args.out, 'w') as f:
            f.write(text)
        emit({'lib': args.lib, 'n': args.n, 'bytes': len(text)}, None)
    else:
        emit(measure(args.lib, args.state, args.work_dir, args.persistence), args.out)


if __name__ == '__main__':
    main()
