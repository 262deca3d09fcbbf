"""Run the real fio on an attached volume and get its results as a typed DataFrame.

    from cinder_nb.notebook import fio
    df = fio(vol, 'randread', runtime=10)                    # presets: see PRESETS
    df = fio(vol, 'mixed', iodepth=32, numjobs=2, overwrite=True)   # any fio option passes through
    pd.concat([df1, df2])                                    # one row per job and direction

The volume is attached through os-brick when it is not attached already (a /dev/loopN as
root with loop devices, the volume file otherwise) and detached again afterwards, also on
failure or cancel. A write workload on a volume that holds data needs ``overwrite=True``.
"""
from __future__ import annotations

import json
import os
import re
import select
import shutil
import signal
import stat
import subprocess
import tempfile
import threading
import time
from datetime import datetime, timezone
from typing import Any

import pandas as pd

from cinder_nb.errors import Cancelled, InvalidArgument, ToolError

#: workload name -> fio options (bs/iodepth can be overridden by the call's arguments)
PRESETS: dict[str, dict[str, Any]] = {
    'randread': {'rw': 'randread', 'bs': '4k', 'iodepth': 16},
    'randwrite': {'rw': 'randwrite', 'bs': '4k', 'iodepth': 16},
    'read': {'rw': 'read', 'bs': '1M', 'iodepth': 8},
    'write': {'rw': 'write', 'bs': '1M', 'iodepth': 8},
    'mixed': {'rw': 'randrw', 'rwmixread': 70, 'bs': '4k', 'iodepth': 16},
}
ALIASES = {'seqread': 'read', 'seqwrite': 'write', 'randrw': 'mixed', 'mixed70': 'mixed'}
WRITE_MODES = frozenset({'write', 'randwrite', 'rw', 'readwrite', 'randrw', 'trim', 'randtrim', 'trimwrite'})
#: options this module sets itself: passing them would break the run or its parsing
RESERVED = frozenset({'filename', 'filename_format', 'directory', 'output', 'output_format', 'output-format',
                      'eta', 'eta_newline', 'name', 'group_reporting'})
PERCENTILES = (50.0, 95.0, 99.0, 99.9)
DIRECTIONS = ('read', 'write', 'trim')

STRING = pd.StringDtype()
#: column -> dtype, in order; tags given to fio() follow these columns
COLUMNS: dict[str, Any] = {
    'label': STRING, 'workload': STRING, 'backend': STRING, 'volume_id': STRING, 'volume_size_gib': 'Int64',
    'target': STRING, 'job': STRING, 'direction': pd.CategoricalDtype(DIRECTIONS), 'rw': STRING,
    'bs_bytes': 'Int64', 'iodepth': 'Int64', 'numjobs': 'Int64', 'runtime_s': 'float64', 'io_bytes': 'int64',
    'ios': 'int64', 'iops': 'float64', 'bw_bytes': 'float64', 'bw_mib_s': 'float64', 'lat_min_us': 'float64',
    'lat_mean_us': 'float64', 'lat_stddev_us': 'float64', 'lat_p50_us': 'float64', 'lat_p95_us': 'float64',
    'lat_p99_us': 'float64', 'lat_p99_9_us': 'float64', 'lat_max_us': 'float64', 'error': 'int64',
    'fio_version': STRING, 'started_at': 'datetime64[ns, UTC]',
}
_OPTION_NAME = re.compile(r'[a-z][a-z0-9_]{0,63}\Z')
_ETA = re.compile(r'\[(?P<pct>[0-9.]+)%\]')


def fio_binary(fio_path: str | None = None) -> str:
    """The fio executable to run, or ToolError saying how to get it."""
    path = fio_path or shutil.which('fio')
    if not path or not os.access(path, os.X_OK):
        raise ToolError('fio', f'the fio program was not found{f" at {fio_path!r}" if fio_path else " on PATH"}: '
                               'install it (Debian/Ubuntu: apt-get install fio; Binder: binder/apt.txt) '
                               'or pass fio_path=.')
    return path


def fio(volume: Any, workload: str | None = 'randread', *, runtime: float = 10, size: int | str | None = None,
        bs: str | int | None = None, iodepth: int | None = None, numjobs: int = 1, overwrite: bool = False,
        label: str | None = None, tags: dict | None = None, progress: bool = True,
        cancel: threading.Event | None = None, fio_path: str | None = None, **options: Any) -> pd.DataFrame:
    """Run fio against a volume; one row per job and direction (see COLUMNS).

    workload: a PRESETS name (randread, randwrite, read, write, mixed = randrw 70/30), or
    None with ``rw=`` among the options. runtime: seconds (time based). size: bytes or a fio
    size string (default: the whole volume). ``**options`` are passed to fio as
    ``--name=value`` (True -> ``--name``), e.g. ``ioengine='psync'``, ``direct=0``,
    ``rate_iops=500``. overwrite: required for a write workload when the volume holds data.
    label/tags: columns that tell runs apart once concatenated. cancel: set this Event (or
    interrupt the kernel) to stop fio; Cancelled (or KeyboardInterrupt) is raised after
    the volume was detached. A missing or failing fio raises ToolError.
    """
    from cinder_nb.volume import Volume
    if not isinstance(volume, Volume):
        raise InvalidArgument('volume', volume, 'a cinder_nb.Volume')
    job = _job_options(workload, runtime, size, bs, iodepth, numjobs, options, volume.size << 30)
    if not isinstance(overwrite, bool):
        raise InvalidArgument('overwrite', overwrite, 'True or False')
    if tags is not None and not (isinstance(tags, dict) and all(isinstance(k, str) for k in tags)):
        raise InvalidArgument('tags', tags, 'a dict of column name -> value')
    if label is not None and not isinstance(label, str):
        raise InvalidArgument('label', label, 'a string')
    binary = fio_binary(fio_path)
    writes = str(job.get('rw', 'read')).split(':')[0] in WRITE_MODES or bool(job.get('verify'))
    name = workload or str(job['rw'])
    conn, attached_here = volume.local_attach, False
    if conn is None:
        conn, attached_here = volume.attach(), True
    try:
        path = conn.path
        if not path:
            raise ToolError('fio', f'volume {volume.id} is connected but has no local path to run fio on.')
        if writes and not overwrite and holds_data(path):
            raise InvalidArgument('overwrite', overwrite,
                                  f'True to let the {name!r} workload overwrite volume {volume.id}: it holds '
                                  'data. Use a fresh volume, or pass overwrite=True if the data may go.')
        target = 'block' if stat.S_ISBLK(os.stat(path).st_mode) else 'file'
        job.setdefault('direct', 1 if _direct_io_works(path) else 0)
        started = datetime.now(timezone.utc)
        doc = _run(binary, name, path, job, progress, cancel, f'fio {name} on {volume.name or volume.id}')
    finally:
        if attached_here:
            volume.detach()
    return parse_fio_json(doc, label=label if label is not None else name, workload=name,
                          backend=volume.backend_name, volume_id=volume.id, volume_size_gib=volume.size,
                          target=target, started_at=started, tags=tags)


def _job_options(workload: str | None, runtime: Any, size: Any, bs: Any, iodepth: Any, numjobs: Any,
                 options: dict, volume_bytes: int) -> dict[str, Any]:
    if workload is None:
        if 'rw' not in options:
            raise InvalidArgument('workload', None, f'one of {sorted(PRESETS)} or rw=... among the fio options')
        job: dict[str, Any] = {}
    else:
        key = ALIASES.get(workload, workload) if isinstance(workload, str) else None
        if key not in PRESETS:
            raise InvalidArgument('workload', workload, f'one of {sorted(PRESETS)} (or None with rw=...)')
        job = dict(PRESETS[key])
    if isinstance(runtime, bool) or not isinstance(runtime, (int, float)) or not 0 < runtime <= 86400:
        raise InvalidArgument('runtime', runtime, 'seconds, more than 0 and at most 86400')
    for arg, value in (('iodepth', iodepth), ('numjobs', numjobs)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 4096):
            raise InvalidArgument(arg, value, 'an integer from 1 to 4096')
    if bs is not None:
        if _size_bytes(bs) is None:
            raise InvalidArgument('bs', bs, "a block size such as 4096, '4k' or '1M'")
        job['bs'] = bs
    if iodepth is not None:
        job['iodepth'] = iodepth
    job['numjobs'] = numjobs
    if size is None:
        job['size'] = volume_bytes
    else:
        n = _size_bytes(size)
        if n is None or not 0 < n <= volume_bytes:
            raise InvalidArgument('size', size, f'bytes or a fio size string, at most the volume size {volume_bytes}')
        job['size'] = n
    job.update(ioengine='libaio', time_based=1, runtime=f'{max(1, round(runtime * 1000))}ms')
    for key, value in options.items():
        if not _OPTION_NAME.match(key) or key in RESERVED:
            raise InvalidArgument(key, value, f'a fio option name (lower case) other than {sorted(RESERVED)}')
        if isinstance(value, bool):
            pass
        elif not isinstance(value, (str, int, float)) or any(c in str(value) for c in '\n\r\0'):
            raise InvalidArgument(key, value, 'a string or number on one line (or True/False)')
        job[key] = value
    if job.get('time_based') is False or job.get('time_based') == 0:
        job.pop('time_based')
    job.setdefault('lat_percentiles', 1)
    job.setdefault('percentile_list', ':'.join(f'{p:g}' for p in PERCENTILES))
    return job


def _command(binary: str, name: str, path: str, job: dict, output: str) -> list[str]:
    cmd = [binary, f'--name={name}', f'--filename={path}', '--group_reporting', '--output-format=json',
           f'--output={output}', '--eta=always', '--eta-newline=1']
    for key, value in job.items():
        if value is True:
            cmd.append(f'--{key}')
        elif value is not False:
            cmd.append(f'--{key}={value}')
    return cmd


def _run(binary: str, name: str, path: str, job: dict, progress: bool, cancel: threading.Event | None,
         desc: str) -> dict:
    from cinder_nb.notebook.progress import bar
    tmp = tempfile.mkdtemp(prefix='cinder_nb-fio-')
    output, errlog = os.path.join(tmp, 'out.json'), os.path.join(tmp, 'stderr.txt')
    runtime_s = _seconds(job.get('runtime')) + _seconds(job.get('ramp_time'))
    pbar = bar(100, desc, unit='%', enabled=progress,
               bar_format='{desc}: {percentage:3.0f}%|{bar}| {elapsed}<{remaining} {postfix}')
    proc = None
    try:
        with open(errlog, 'wb') as err:
            proc = subprocess.Popen(_command(binary, name, path, job, output), stdout=subprocess.PIPE,
                                    stderr=err, stdin=subprocess.DEVNULL, start_new_session=True)
        t0, shown, pending = time.monotonic(), 0.0, b''
        while True:
            if cancel is not None and cancel.is_set():
                _stop(proc)
                raise Cancelled(f'{desc}: cancelled after {time.monotonic() - t0:.1f} s; fio was stopped.')
            ready, _, _ = select.select([proc.stdout], [], [], 0.2)
            if ready:
                chunk = os.read(proc.stdout.fileno(), 65536)
                if not chunk:
                    break
                pending += chunk
                *lines, pending = re.split(rb'[\r\n]', pending)
                for line in reversed(lines):
                    status = line.decode(errors='replace').strip()
                    if status.startswith('Jobs:'):
                        pbar.set_postfix_str(_eta_summary(status), refresh=False)
                        break
            pct = min(99.0, 100.0 * (time.monotonic() - t0) / runtime_s) if runtime_s else shown
            if pct > shown:
                pbar.update(pct - shown)
                shown = pct
        proc.wait()
        if proc.returncode != 0:
            raise ToolError('fio', f'failed with exit status {proc.returncode} on {path}',
                            returncode=proc.returncode, output=_read(errlog) + '\n' + _read(output))
        pbar.update(100 - shown)
        return _load_json(_read(output), _read(errlog))
    except KeyboardInterrupt:
        _stop(proc)
        raise
    finally:
        if proc is not None and proc.poll() is None:
            _stop(proc)
        if proc is not None and proc.stdout is not None:
            proc.stdout.close()
        pbar.close()
        shutil.rmtree(tmp, ignore_errors=True)


def _stop(proc: subprocess.Popen | None) -> None:
    """SIGINT (fio stops its jobs cleanly), then SIGKILL after 10 s."""
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        pass


def _eta_summary(status: str) -> str:
    """'Jobs: 1 (f=1): [m(1)][45.0%][r=47.7MiB/s,w=20.3MiB/s][r=12.2k,w=5200 IOPS][eta 00m:11s]' -> rates."""
    parts = re.findall(r'\[([^\]]*)\]', status)
    return ' '.join(p for p in parts if '/s' in p or 'IOPS' in p)


def _read(path: str) -> str:
    try:
        with open(path, encoding='utf-8', errors='replace') as f:
            return f.read()
    except OSError:
        return ''


def _load_json(text: str, stderr: str = '') -> dict:
    """fio's JSON document (fio may print notes before it)."""
    start = text.find('{')
    try:
        doc = json.loads(text[start:]) if start >= 0 else None
    except json.JSONDecodeError as exc:
        raise ToolError('fio', f'its JSON output could not be parsed ({exc})', output=stderr + text[:1000]) from None
    if not isinstance(doc, dict) or not isinstance(doc.get('jobs'), list):
        raise ToolError('fio', 'wrote no JSON result with a "jobs" list', output=stderr + text[:1000])
    return doc


def _seconds(value: Any) -> float:
    if value is None:
        return 0.0
    if isinstance(value, (int, float)):
        return float(value)
    m = re.fullmatch(r'\s*([0-9.]+)\s*(ms|us|s|m|h)?\s*', str(value))
    if not m:
        return 0.0
    return float(m[1]) * {'us': 1e-6, 'ms': 1e-3, 's': 1, None: 1, 'm': 60, 'h': 3600}[m[2]]


def _size_bytes(value: Any) -> int | None:
    """4096, '4k', '1M', '1MiB', '2g' -> bytes (fio's default base 1024); None if not a size."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value > 0 else None
    m = re.fullmatch(r'\s*(\d+)\s*([kmgt]?)(i?b)?\s*', str(value), re.IGNORECASE)
    if not m:
        return None
    return int(m[1]) * 1024 ** ' kmgt'.index(m[2].lower() or ' ')


def _direct_io_works(path: str) -> bool:
    """O_DIRECT opens on block devices and most filesystems, not on tmpfs or some FUSE mounts."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECT)
    except OSError:
        return False
    os.close(fd)
    return True


def holds_data(path: str, limit: int = 4 << 30) -> bool:
    """True when the attached volume at path may hold data (any non-zero byte).

    A regular file (or a loop device's backing file) is checked through its allocated
    extents only; another block device is read up to limit bytes, and beyond that
    it is assumed to hold data.
    """
    from cinder_nb.drivers.copy import data_extents
    st = os.stat(path)
    if stat.S_ISBLK(st.st_mode):
        backing = f'/sys/dev/block/{os.major(st.st_rdev)}:{os.minor(st.st_rdev)}/loop/backing_file'
        try:
            with open(backing) as f:
                path = f.read().strip()
            st = os.stat(path)
        except OSError:
            pass
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.lseek(fd, 0, os.SEEK_END)
        if stat.S_ISREG(st.st_mode):
            try:
                extents = list(data_extents(fd, size))
            except OSError:
                extents = [(0, size)]
        else:
            extents = [(0, size)]
        budget = limit
        for start, length in extents:
            offset = start
            while offset < start + length:
                if budget <= 0:
                    return True
                chunk = os.pread(fd, min(8 << 20, start + length - offset, budget), offset)
                if not chunk:
                    break
                if chunk.count(0) != len(chunk):
                    return True
                offset += len(chunk)
                budget -= len(chunk)
        return False
    finally:
        os.close(fd)


def _pct(section: dict, p: float) -> float | None:
    for key in ('lat_ns', 'clat_ns'):
        table = (section.get(key) or {}).get('percentile') or {}
        for k, v in table.items():
            try:
                if abs(float(k) - p) < 1e-6:
                    return v / 1000.0
            except ValueError:
                continue
    return None


def parse_fio_json(doc: dict | str, label: str | None = None, workload: str | None = None,
                   backend: str | None = None, volume_id: str | None = None, volume_size_gib: int | None = None,
                   target: str | None = None, started_at: datetime | None = None,
                   tags: dict | None = None) -> pd.DataFrame:
    """fio's ``--output-format=json`` document (dict or text) as a DataFrame with COLUMNS.

    One row per job and direction that did I/O. Latencies are in microseconds (total
    latency when the run had lat_percentiles=1, else completion latency percentiles),
    bandwidth in bytes/s and MiB/s.
    """
    if isinstance(doc, (str, bytes)):
        doc = _load_json(doc.decode() if isinstance(doc, bytes) else doc)
    glob = doc.get('global options') or {}
    ts = started_at
    if ts is None and doc.get('timestamp'):
        ts = datetime.fromtimestamp(doc['timestamp'], timezone.utc)
    rows = []
    for job in doc.get('jobs', []):
        opts = dict(glob, **(job.get('job options') or {}))
        for direction in DIRECTIONS:
            sec = job.get(direction) or {}
            if not sec.get('total_ios') and not sec.get('io_bytes'):
                continue
            lat = sec.get('lat_ns') or {}
            bs = _size_bytes(str(opts.get('bs', '')).split(',')[0]) if opts.get('bs') else None
            rows.append({
                'label': label, 'workload': workload, 'backend': backend, 'volume_id': volume_id,
                'volume_size_gib': volume_size_gib, 'target': target, 'job': job.get('jobname'),
                'direction': direction, 'rw': opts.get('rw', 'read'), 'bs_bytes': bs,
                'iodepth': _int(opts.get('iodepth', 1)), 'numjobs': _int(opts.get('numjobs', 1)),
                'runtime_s': (sec.get('runtime') or 0) / 1000.0, 'io_bytes': sec.get('io_bytes', 0),
                'ios': sec.get('total_ios', 0), 'iops': sec.get('iops', 0.0),
                'bw_bytes': float(sec.get('bw_bytes', sec.get('bw', 0) * 1024)),
                'bw_mib_s': float(sec.get('bw_bytes', sec.get('bw', 0) * 1024)) / (1 << 20),
                'lat_min_us': lat.get('min', 0) / 1000.0, 'lat_mean_us': lat.get('mean', 0) / 1000.0,
                'lat_stddev_us': lat.get('stddev', 0) / 1000.0,
                'lat_p50_us': _pct(sec, 50.0), 'lat_p95_us': _pct(sec, 95.0), 'lat_p99_us': _pct(sec, 99.0),
                'lat_p99_9_us': _pct(sec, 99.9), 'lat_max_us': lat.get('max', 0) / 1000.0,
                'error': int(job.get('error', 0) or 0), 'fio_version': doc.get('fio version'), 'started_at': ts,
            })
    df = pd.DataFrame(rows, columns=list(COLUMNS))
    for col, dtype in COLUMNS.items():
        if dtype == 'datetime64[ns, UTC]':
            df[col] = pd.to_datetime(df[col], utc=True).astype(dtype)
        else:
            df[col] = df[col].astype(dtype)
    for key, value in (tags or {}).items():
        if key in COLUMNS:
            raise InvalidArgument('tags', key, f'tag names other than the fixed columns {list(COLUMNS)}')
        df[key] = value
    return df


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
