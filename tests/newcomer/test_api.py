"""The public API as a newcomer meets it: what it prints, what it accepts, what it returns."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

import cinder_nb as cnb


def test_memory_persistence_writes_nothing_into_the_working_directory(tmp_path):
    """'memory' keeps the state in the process: no ./.cinder_nb (nor its locks) appears in the cwd,
    and the private lock dir it uses instead is gone when the process ends."""
    tmp = tmp_path / 'tmp'
    tmp.mkdir()
    script = textwrap.dedent(f'''
        import os, cinder_nb as cnb
        cnb.setup('memory')
        lab = cnb.embedded({str(tmp_path / 'volumes')!r}, local_file_attach_mode='file')
        vol = lab.create_volume(1)
        vol.create_snapshot()
        vol.extend(2)                          # takes the volume's file lock
        print(sorted(os.listdir('.')))
    ''')
    done = subprocess.run([sys.executable, '-c', script], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300, env=dict(os.environ, TMPDIR=str(tmp)))
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "['tmp', 'volumes']"
    assert os.listdir(tmp) == []


def test_supported_drivers_are_keyed_by_class_path(session):
    """Two drivers of one class name (Nexenta's NS5 and older drivers) are both listed."""
    from cinder_nb import _cinder
    drivers = cnb.list_supported_drivers()
    paths = {f'{c.__module__}.{c.__name__}' for c in _cinder.registered_volume_drivers()}
    assert set(drivers) == paths and len(drivers) == len(paths)
    for path in ('cinder.volume.drivers.nexenta.iscsi.NexentaISCSIDriver',
                 'cinder.volume.drivers.nexenta.ns5.iscsi.NexentaISCSIDriver',
                 'cinder.volume.drivers.nexenta.nfs.NexentaNfsDriver',
                 'cinder.volume.drivers.nexenta.ns5.nfs.NexentaNfsDriver'):
        assert drivers[path]['volume_driver'] == path
    assert drivers['cinder_nb.drivers.localfile.LocalFileDriver']['class_name'] == 'LocalFileDriver'


def test_connection_host_is_an_attribute_as_its_repr_says(filelab):
    conn = filelab.create_volume(1).connect({'host': 'compute-1', 'initiator': 'iqn.2026-11.example:c1'})
    assert "host='compute-1'" in repr(conn)
    assert conn.host == 'compute-1'
    conn.disconnect()


@pytest.mark.parametrize('connector, missing', [
    ({}, 'host'),
    ({'initiator': 'iqn.2026-11.example:c1'}, 'host'),
    ({'host': ''}, 'host'),
])
def test_a_connector_without_host_is_refused_naming_the_key(filelab, connector, missing):
    vol = filelab.create_volume(1)
    with pytest.raises(cnb.InvalidArgument) as err:
        filelab.validate_connector(connector)
    assert f"connector['{missing}']" in str(err.value)
    with pytest.raises(cnb.InvalidArgument, match=rf"connector\['{missing}'\]"):
        vol.connect(connector)
    assert vol.connections == [] and vol.status == 'available'


def test_connector_keys_follow_the_drivers_protocol(session):
    """What os-brick's connector for the backend's protocol reports and its target reads: an iSCSI
    backend also wants the initiator name (a local one only the host)."""
    iscsi = cnb.Backend('iscsi', volume_driver='tests.newcomer.iscsi_driver.ISCSIReportingDriver',
                        local_file_path=str(session / 'iscsi'))
    with pytest.raises(cnb.InvalidArgument, match=r"connector\['initiator'\]=None is invalid: expected .*iSCSI"):
        iscsi.validate_connector({'host': 'compute-1'})
    iscsi.validate_connector({'host': 'compute-1', 'initiator': 'iqn.2026-11.example:c1'})
    local = cnb.embedded(str(session / 'local'), local_file_attach_mode='file')
    local.validate_connector({'host': 'compute-1'})


def test_a_failing_create_is_reported_once(tmp_path):
    """create_volume(10**6): one typed error carrying the numbers, no log line repeating them."""
    script = textwrap.dedent(f'''
        import cinder_nb as cnb
        cnb.setup('memory', state_dir={str(tmp_path / 'state')!r})
        lab = cnb.embedded({str(tmp_path / 'volumes')!r})
        try:
            lab.create_volume(10**6)
        except cnb.InsufficientCapacity as exc:
            print(exc)
    ''')
    done = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert 'Cannot create a volume of 1000000 GiB' in done.stdout
    assert done.stderr == ''


def test_stats_numbers_are_numbers(session):
    lab = cnb.embedded(str(session / 'volumes'), reserved_percentage='5', max_over_subscription_ratio='4.5')
    pool = lab.stats(refresh=True)['pools'][0]
    assert pool['max_over_subscription_ratio'] == 4.5 and isinstance(pool['max_over_subscription_ratio'], float)
    assert pool['reserved_percentage'] == 5 and isinstance(pool['reserved_percentage'], int)
    for key in ('total_capacity_gb', 'free_capacity_gb', 'allocated_capacity_gb', 'provisioned_capacity_gb'):
        assert isinstance(pool[key], (int, float)) and not isinstance(pool[key], bool), key
    default = cnb.embedded(str(session / 'other'), name='other').stats()['pools'][0]
    assert default['max_over_subscription_ratio'] == 20.0
