"""fio on attached volumes: real fio runs (1 s each), real JSON output, typed frames and errors."""
from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pandas as pd
import pytest

from cinder_nb.errors import Cancelled, InvalidArgument, ToolError
from cinder_nb.notebook import fio_runs as fiomod
from cinder_nb.notebook.fio_runs import COLUMNS, fio, parse_fio_json
from tests.helpers import read_at, write_at

pytestmark = pytest.mark.skipif(shutil.which('fio') is None, reason='fio is not installed (apt-get install fio)')


def _fio_json(tmp_path, *args: str) -> dict:
    """Run fio directly (not through cinder_nb) and return its JSON document."""
    target = tmp_path / 'target.img'
    with open(target, 'wb') as f:
        f.truncate(64 << 20)
    out = tmp_path / 'out.json'
    subprocess.run(['fio', '--name=direct', f'--filename={target}', '--size=64M', '--runtime=1', '--time_based',
                    '--output-format=json', f'--output={out}', '--ioengine=psync', *args],
                   check=True, capture_output=True, timeout=60)
    return json.loads(out.read_text())


def test_parse_real_fio_output_mixed(tmp_path):
    doc = _fio_json(tmp_path, '--rw=randrw', '--rwmixread=70', '--bs=4k', '--lat_percentiles=1',
                    '--percentile_list=50:95:99:99.9', '--group_reporting')
    df = parse_fio_json(doc, label='direct')
    assert list(df.columns) == list(COLUMNS)
    assert {c: str(t) for c, t in df.dtypes.items()} == {c: str(pd.Series(dtype=t).dtype) for c, t in COLUMNS.items()}
    assert list(df['direction']) == ['read', 'write']
    read, write = df.iloc[0], df.iloc[1]
    for row, sec in ((read, doc['jobs'][0]['read']), (write, doc['jobs'][0]['write'])):
        assert row['io_bytes'] == sec['io_bytes'] > 0
        assert row['ios'] == sec['total_ios']
        assert row['bs_bytes'] == 4096
        assert row['iops'] == pytest.approx(row['ios'] / row['runtime_s'], rel=0.05)
        assert row['bw_bytes'] == pytest.approx(row['io_bytes'] / row['runtime_s'], rel=0.05)
        assert row['lat_min_us'] <= row['lat_p50_us'] <= row['lat_p95_us'] <= row['lat_p99_us'] \
            <= row['lat_p99_9_us'] <= row['lat_max_us']
        assert row['lat_p50_us'] == sec['lat_ns']['percentile']['50.000000'] / 1000
    share = read['ios'] / (read['ios'] + write['ios'])
    assert 0.6 < share < 0.8          # rwmixread=70


def test_parse_real_fio_output_without_lat_percentiles_uses_clat(tmp_path):
    doc = _fio_json(tmp_path, '--rw=read', '--bs=64k')
    df = parse_fio_json(doc)
    assert list(df['direction']) == ['read'] and df['bs_bytes'][0] == 65536
    assert df['lat_p99_us'][0] == doc['jobs'][0]['read']['clat_ns']['percentile']['99.000000'] / 1000


def test_parse_rejects_what_is_not_fio_json():
    with pytest.raises(ToolError, match='fio'):
        parse_fio_json('fio: no such option\n')
    with pytest.raises(ToolError, match='jobs'):
        parse_fio_json('{"fio version": "x"}')


def test_fio_presets_on_a_volume_concatenate(lab):
    vol = lab.create_volume(1, name='perf')
    a = fio(vol, 'randwrite', runtime=1, size='64M', progress=False, tags={'snapshots': 0})
    vol.create_snapshot()
    b = fio(vol, 'mixed', runtime=1, size='64M', progress=False, overwrite=True, tags={'snapshots': 1})
    both = pd.concat([a, b], ignore_index=True)
    assert list(both['label']) == ['randwrite', 'mixed', 'mixed']
    assert list(both['direction']) == ['write', 'read', 'write']
    assert str(both['direction'].dtype) == 'category' and str(both['iops'].dtype) == 'float64'
    assert list(both['snapshots']) == [0, 1, 1]
    assert (both['iops'] > 0).all() and (both['bs_bytes'] == 4096).all()
    assert set(both['target']) == {'block' if _mode(lab) == 'loop' else 'file'}
    assert (both['volume_id'] == vol.id).all() and (both['backend'] == lab.name).all()
    assert vol.status == 'available' and vol.connections == []      # detached after each run
    # fio really wrote through the attach path: the volume holds data now
    conn = vol.attach()
    try:
        assert fiomod.holds_data(conn.path)
    finally:
        vol.detach()


def _mode(lab) -> str:
    return lab.config['local_file_attach_mode']


def test_write_workload_on_a_volume_with_data_needs_overwrite(lab):
    vol = lab.create_volume(1)
    conn = vol.attach()
    write_at(conn.path, 5 << 20, b'precious')
    vol.detach()
    with pytest.raises(InvalidArgument, match='overwrite.*holds data'):
        fio(vol, 'randwrite', runtime=1, progress=False)
    with pytest.raises(InvalidArgument, match='overwrite'):
        fio(vol, None, rw='randrw', runtime=1, progress=False)
    assert vol.status == 'available' and vol.connections == []
    conn = vol.attach()
    try:
        assert read_at(conn.path, 5 << 20, 8) == b'precious'
    finally:
        vol.detach()
    # reads are never refused
    assert len(fio(vol, 'randread', runtime=1, size='16M', progress=False)) == 1


def test_fresh_volume_takes_a_write_workload_without_the_flag(filelab):
    vol = filelab.create_volume(1)
    df = fio(vol, 'write', runtime=1, size='32M', progress=False)
    assert df['direction'].tolist() == ['write'] and df['bs_bytes'][0] == 1 << 20


def test_missing_fio_is_a_typed_error_and_attaches_nothing(filelab):
    vol = filelab.create_volume(1)
    with pytest.raises(ToolError, match='fio program was not found'):
        fio(vol, 'randread', runtime=1, fio_path='/nonexistent/fio', progress=False)
    assert vol.connections == []


def test_failing_fio_is_a_typed_error_and_the_volume_is_detached(lab):
    vol = lab.create_volume(1)
    with pytest.raises(ToolError, match='exit status') as info:
        fio(vol, 'randread', runtime=1, ioengine='no_such_engine', progress=False)
    assert 'no_such_engine' in info.value.message
    assert vol.status == 'available' and vol.connections == []


@pytest.mark.parametrize('bad', [dict(workload='nope'), dict(runtime=0), dict(iodepth=0), dict(bs='big'),
                                 dict(size=3 << 30), dict(filename='/etc/passwd'), dict(output='x'),
                                 dict(rw='read\n[evil]'), dict(workload=None), dict(overwrite='yes'),
                                 dict(tags={'iops': 1})])
def test_bad_arguments_are_refused_before_anything_runs(filelab, bad):
    vol = filelab.create_volume(1)
    kwargs = dict(dict(workload='randread', runtime=1, progress=False), **bad)
    with pytest.raises(InvalidArgument):
        fio(vol, **kwargs)
    assert vol.connections == []


def _fio_processes(path_part: str) -> list[int]:
    out = subprocess.run(['pgrep', '-f', f'fio --name=.*{path_part}'], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


def test_cancel_stops_fio_and_detaches(lab):
    vol = lab.create_volume(1)
    cancel = threading.Event()
    threading.Timer(1.0, cancel.set).start()
    t0 = time.monotonic()
    with pytest.raises(Cancelled, match='cancelled'):
        fio(vol, 'randread', runtime=60, cancel=cancel, progress=False)
    assert time.monotonic() - t0 < 15
    assert vol.status == 'available' and vol.connections == []
    assert _fio_processes(vol.id) == []


def test_keyboard_interrupt_stops_fio_and_detaches(tmp_path):
    """What the notebook's stop button does: SIGINT to the kernel while fio runs."""
    script = tmp_path / 'run.py'
    script.write_text(textwrap.dedent(f'''
        import sys, cinder_nb as cnb
        from cinder_nb.notebook.fio_runs import fio
        cnb.setup('memory', state_dir={str(tmp_path / 'state')!r})
        lab = cnb.embedded({str(tmp_path / 'vols')!r}, local_file_attach_mode='file')
        vol = lab.create_volume(1)
        print('volume', vol.id, flush=True)
        try:
            fio(vol, 'randread', runtime=60, progress=True)
        except KeyboardInterrupt:
            print('interrupted', vol.status, len(vol.connections), flush=True)
    '''))
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    vol_id = proc.stdout.readline().split()[-1]
    deadline = time.monotonic() + 30
    while not _fio_processes(vol_id) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _fio_processes(vol_id), 'fio did not start'
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert 'interrupted available 0' in out, err[-2000:]
    assert _fio_processes(vol_id) == []
    assert '%|' in err          # the text progress bar ran in the terminal


def test_fio_runs_unprivileged_on_the_volume_file(open_tmp_path, unprivileged):
    work = open_tmp_path / 'work'
    work.mkdir()
    unprivileged.own(work)
    script = textwrap.dedent(f'''
        import os, cinder_nb as cnb
        from cinder_nb.notebook.fio_runs import fio
        cnb.setup('memory', state_dir={str(work / 'state')!r})
        lab = cnb.embedded({str(work / 'vols')!r})
        vol = lab.create_volume(1)
        df = fio(vol, 'mixed', runtime=1, size='32M', progress=False)
        print(os.geteuid(), list(df.target), list(df.direction), bool((df.iops > 0).all()), vol.status)
    ''')
    done = subprocess.run(unprivileged.argv('-c', script), capture_output=True, text=True, timeout=120,
                          cwd=str(work))
    assert done.returncode == 0, done.stderr[-3000:]
    euid, rest = done.stdout.strip().splitlines()[-1].split(' ', 1)
    assert euid != '0'
    assert rest == "['file', 'file'] ['read', 'write'] True available"


def test_holds_data_sees_a_written_byte_only(tmp_path):
    path = tmp_path / 'vol'
    with open(path, 'wb') as f:
        f.truncate(256 << 20)
    assert not fiomod.holds_data(str(path))
    write_at(str(path), 200 << 20, b'\0' * 4096)       # allocated zeros are not data
    assert not fiomod.holds_data(str(path))
    write_at(str(path), 255 << 20, b'x')
    assert fiomod.holds_data(str(path))
