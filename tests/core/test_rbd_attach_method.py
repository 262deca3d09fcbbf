"""Which local attach an RBD volume gets: the kernel map (krbd, os-brick's RBDConnector) where
the rbd module is loaded and we are root, rbd-fuse elsewhere, and a typed error when krbd is
asked for where it cannot work. No cluster needed: the choice is made before any connector runs."""
from __future__ import annotations

import pytest

import cinder_nb as cnb
from cinder_nb import ceph, connection
from tests.core.rbd_info_driver import KEY

GOOD_INFO = {'driver_volume_type': 'rbd', 'data': {'name': 'volumes/volume-1'}}


@pytest.fixture
def rbd_sysfs(tmp_path, monkeypatch):
    """A stand-in for /sys/bus/rbd (present) and root; returns a path that is missing."""
    present = tmp_path / 'sys-bus-rbd'
    present.mkdir()
    monkeypatch.setattr(ceph.os, 'geteuid', lambda: 0)
    monkeypatch.setattr(ceph, '_has', lambda cmd: True)
    return str(present), str(tmp_path / 'missing')


def test_auto_takes_krbd_where_the_module_is_and_fuse_elsewhere(rbd_sysfs, monkeypatch):
    present, missing = rbd_sysfs
    monkeypatch.delenv(ceph.ATTACH_ENV, raising=False)
    assert ceph.attach_method('auto', present) == 'krbd'
    assert ceph.attach_method(None, present) == 'krbd'
    assert ceph.attach_method('auto', missing) == 'fuse'
    assert ceph.attach_method('fuse', present) == 'fuse'
    assert ceph.attach_method('krbd', present) == 'krbd'
    monkeypatch.setenv(ceph.ATTACH_ENV, 'fuse')
    assert ceph.attach_method(None, present) == 'fuse'


def test_krbd_without_the_module_or_root_is_a_typed_error(rbd_sysfs, monkeypatch):
    present, missing = rbd_sysfs
    with pytest.raises(cnb.AttachUnavailable, match=r'no rbd module .*missing') as err:
        ceph.attach_method('krbd', missing)
    assert err.value.method == 'krbd' and isinstance(err.value, cnb.CinderNBError)
    monkeypatch.setattr(ceph.os, 'geteuid', lambda: 1000)
    with pytest.raises(cnb.AttachUnavailable, match='needs root'):
        ceph.attach_method('krbd', present)
    with pytest.raises(cnb.InvalidArgument, match='rbd_attach'):
        ceph.attach_method('nbd', present)
    monkeypatch.setenv(ceph.ATTACH_ENV, 'kernel')
    with pytest.raises(cnb.InvalidArgument, match='CINDER_NB_RBD_ATTACH'):
        ceph.attach_method(None, present)


def test_each_method_gets_its_connector():
    krbd = connection.brick_connector_for(GOOD_INFO, 'krbd')
    assert isinstance(krbd, ceph.KRBDConnector)
    assert type(krbd.brick).__name__ == 'RBDConnector' and krbd.brick.do_local_attach is True
    assert isinstance(connection.brick_connector_for(GOOD_INFO, 'fuse'), ceph.RBDFuseConnector)
    assert isinstance(connection.brick_connector_for(GOOD_INFO), ceph.RBDFuseConnector)


def test_attach_asking_krbd_here_fails_typed_and_leaves_nothing(session, tmp_path, monkeypatch):
    """Through the public API on a driver with RBD connection info: this host has no usable
    krbd (no /sys/bus/rbd stand-in), so rbd_attach='krbd' raises AttachUnavailable, the
    connection it made is gone, the volume is available, and the error quotes no key."""
    monkeypatch.setattr(ceph, 'SYS_BUS_RBD', str(tmp_path / 'missing'))
    monkeypatch.setattr(ceph.attach_method, '__defaults__', (None, str(tmp_path / 'missing')))
    import tests.core.rbd_info_driver  # noqa: F401
    lab = cnb.Backend('rbd-info', volume_driver='tests.core.rbd_info_driver.RBDInfoDriver',
                      local_file_path=str(tmp_path / 'vols'))
    vol = lab.create_volume(1)
    with pytest.raises(cnb.AttachUnavailable) as err:
        vol.attach(rbd_attach='krbd')
    assert KEY not in str(err.value) + repr(err.value)
    assert err.value.__cause__ is None and err.value.__context__ is None
    assert vol.connections == [] and vol.status == 'available' and vol.local_attach is None
    with pytest.raises(cnb.InvalidArgument):
        vol.attach(rbd_attach='kernel')
    assert vol.connections == []
