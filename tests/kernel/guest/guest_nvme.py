"""NVMe-oF over TCP in the test guest: os-brick's real NVMeOFConnector (nvme-cli, nvme-tcp)
against the kernel's own nvmet target. Runs inside the guest (see tests/kernel/conftest.py).

Cinder's ``nvmet`` target helper cannot run anywhere here: it imports the Python ``nvmet``
module (nvmetcli), which neither PyPI nor Debian bookworm ships (docs/kernel-tests.md has the
registry answers). So the *target* side is made by ``KernelTarget`` below through the kernel's
own configfs interface: mkdir a subsystem, a namespace and a TCP port, write a few attributes,
link the subsystem into the port -- the layout Cinder's nvmet helper asks nvmetcli for (one
subsystem ``nqn.<target_prefix>-<volume id>`` per volume, namespace id ``nvmet_ns_id`` = 10,
the namespace's uuid = the volume id), not a copy of nvmetcli. Everything else is the real
thing: the volume is an LV made and extended by Cinder's LVMVolumeDriver through cinder_nb;
the connection info is made by Cinder's own ``NVMeOF`` target code from the provider_location
Cinder's ``NVMET.create_export`` stores; the host NQN comes from os-brick's
get_connector_properties through cinder_nb; cinder_nb picks os-brick's connector for
``nvmeof``; the initiator is the kernel's nvme-tcp driven by nvme-cli, over 127.0.0.1.
"""
from __future__ import annotations

import glob
import json
import os
import socket
import subprocess
import types
import uuid

import pytest

from tests.kernel.guest.conftest import IN_GUEST, VG, lv_names, sh
from tests.helpers import read_at, write_at
from tests.kernel.guest.guest_lvm import GiB

NVMET = '/sys/kernel/config/nvmet'
TARGET_PREFIX = 'nvme-subsystem-1'   # the target_prefix devstack sets for LVM with nvmet
NS_ID = 10                           # Cinder's nvmet_ns_id default
HOST_FILES = ('/etc/nvme/hostnqn', '/etc/nvme/hostid')


def _write(path: str, value: object) -> None:
    with open(path, 'w') as fh:
        fh.write(f'{value}\n')


def _read(path: str) -> str:
    with open(path) as fh:
        return fh.read().strip()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def controllers(nqn: str | None = None) -> list[str]:
    """The NVMe controllers in /sys/class/nvme (only those of subsystem ``nqn`` if given)."""
    found = []
    for ctrl in glob.glob('/sys/class/nvme/nvme*'):
        try:
            subsys = _read(f'{ctrl}/subsysnqn')
        except OSError:
            continue
        if nqn is None or subsys == nqn:
            found.append(os.path.basename(ctrl))
    return sorted(found)


def size_of(path: str) -> int:
    return int(sh('blockdev', '--getsize64', path))


class KernelTarget:
    """One nvmet subsystem with one namespace, exported on one TCP port on 127.0.0.1 and open
    to one host NQN only, made and removed through the kernel's configfs (no nvmetcli)."""

    def __init__(self, nqn: str, device: str, ns_uuid: str, host_nqn: str, port: int) -> None:
        self.nqn, self.device, self.ns_uuid, self.host_nqn, self.port = nqn, device, ns_uuid, host_nqn, port
        ports = [int(p) for p in os.listdir(f'{NVMET}/ports')]
        self.port_id = max(ports, default=0) + 1
        self._undo: list[tuple[str, str]] = []    # (what, path), undone in reverse order

    def _mkdir(self, path: str) -> None:
        os.mkdir(path)
        self._undo.append(('rmdir', path))

    def _link(self, src: str, dst: str) -> None:
        os.symlink(src, dst)
        self._undo.append(('unlink', dst))

    def create(self) -> None:
        sub = f'{NVMET}/subsystems/{self.nqn}'
        self._mkdir(sub)
        # Cinder's helper writes allow_any_host=1; this target admits the connector's NQN only,
        # so a connect proves the NQN os-brick reported is the one the initiator presents
        _write(f'{sub}/attr_allow_any_host', 0)
        host = f'{NVMET}/hosts/{self.host_nqn}'
        self._mkdir(host)
        self._link(host, f'{sub}/allowed_hosts/{self.host_nqn}')
        ns = f'{sub}/namespaces/{NS_ID}'
        self._mkdir(ns)
        _write(f'{ns}/device_path', self.device)
        _write(f'{ns}/device_uuid', self.ns_uuid)
        _write(f'{ns}/device_nguid', uuid.uuid4())      # non-shared: Cinder makes a random nguid
        _write(f'{ns}/enable', 1)
        self._undo.append(('disable', f'{ns}/enable'))
        port = f'{NVMET}/ports/{self.port_id}'
        self._mkdir(port)
        for attr, value in (('addr_trtype', 'tcp'), ('addr_adrfam', 'ipv4'),
                            ('addr_traddr', '127.0.0.1'), ('addr_trsvcid', self.port)):
            _write(f'{port}/{attr}', value)
        self._link(sub, f'{port}/subsystems/{self.nqn}')   # the port starts listening here

    def remove(self) -> list[str]:
        """Disconnect every controller of the subsystem, then undo the configfs entries in
        reverse order; returns what could not be undone."""
        errors = []
        if controllers(self.nqn):
            sh('nvme', 'disconnect', '-n', self.nqn, check=False)
            if controllers(self.nqn):
                errors.append(f'controllers of {self.nqn} left: {controllers(self.nqn)}')
        for what, path in reversed(self._undo):
            try:
                if what == 'rmdir':
                    os.rmdir(path)
                elif what == 'unlink':
                    os.unlink(path)
                else:
                    _write(path, 0)
            except OSError as exc:
                errors.append(f'{what} {path}: {exc}')
        self._undo.clear()
        return errors


def cinder_nvmeof_target(port: int, version: int):
    """Cinder's own NVMeOF target code (cinder.volume.targets.nvmeof, which needs no nvmetcli),
    configured as Cinder's nvmet helper would be for this export; its connection properties
    are what NVMET.initialize_connection returns for a non-shared export."""
    from cinder.volume.targets.nvmeof import NVMeOF
    conf = types.SimpleNamespace(
        target_ip_address='127.0.0.1', target_secondary_ip_addresses=[], target_port=port,
        nvmet_port_id=1, nvmet_ns_id=NS_ID, target_prefix=TARGET_PREFIX,
        target_protocol='nvmet_tcp', nvmeof_conn_info_version=version, lvm_share_target=False)
    target = NVMeOF(configuration=conf)
    # NVMET overrides _get_nvme_uuid to return the volume's name_id (its id, never migrated here)
    target._get_nvme_uuid = lambda volume: volume['id']
    return target


def connection_info(vol_id: str, nqn: str, port: int, version: int) -> dict:
    """The connection info Cinder 29 returns for an LVM volume exported by the nvmet helper, as
    Nova (and cinder_nb's records) get it: through JSON."""
    target = cinder_nvmeof_target(port, version)
    # what NVMET.create_export stores as provider_location (non-shared targets)
    location = target.get_nvmeof_location(nqn, target.target_ips, target.target_port,
                                          target.nvme_transport_type, NS_ID)
    info = target.initialize_connection({'id': vol_id, 'provider_location': location}, {})
    return json.loads(json.dumps(info))


@pytest.fixture(scope='module')
def nvme_modules():
    sh('modprobe', '-a', 'nvmet', 'nvmet_tcp', 'nvme_tcp')
    assert os.path.isdir(f'{NVMET}/subsystems'), 'nvmet configfs is missing'


@pytest.fixture(scope='module')
def host_connector(lvm_session, nvme_modules):
    """This guest's own NVMe host identity, then its connector from cinder_nb (os-brick's
    get_connector_properties). The guest's /etc is a tmpfs overlay over the host's read-only
    root; the host's files are put back after the module.

    The identity is a uuid-based NQN and host id, as Debian's nvme-cli package makes them on
    installation (``nvme gen-hostnqn``, ``uuidgen``), from a random uuid: without a DMI system
    UUID ``nvme gen-hostnqn`` gives the all-zero one, which every such guest would share. os-brick would make the files itself
    from the DMI system UUID, but this qemu guest has none: os-brick then takes dmidecode's
    "Not Settable" as the UUID and the kernel refuses every connect ("nvme_fabrics: Invalid
    hostid Not Settable"; docs/kernel-tests.md)."""
    if not IN_GUEST or 'cnb.agent=' not in _read('/proc/cmdline'):
        pytest.skip('runs inside the test guest only (it replaces /etc/nvme/hostnqn)')
    saved = {path: _read(path) for path in HOST_FILES if os.path.exists(path)}
    from cinder_nb.connection import local_connector
    try:
        os.makedirs('/etc/nvme', exist_ok=True)
        host_id = str(uuid.uuid4())   # `nvme gen-hostnqn` gives the all-zero uuid in this guest
        _write(HOST_FILES[0], f'nqn.2014-08.org.nvmexpress:uuid:{host_id}')
        _write(HOST_FILES[1], host_id)
        yield local_connector()
    finally:
        for path in HOST_FILES:
            if path in saved:
                _write(path, saved[path])
            elif os.path.exists(path):
                os.unlink(path)


def test_connector_carries_the_host_nqn(host_connector):
    """os-brick (through cinder_nb.connection.local_connector) reports this guest's host NQN
    and host id (not the host machine's, whose files lie under the overlay); cinder_nb's
    NVMe-oF connector check and Cinder's NVMeOF target accept that connector and refuse it
    without ``nqn``."""
    from cinder import exception
    from cinder_nb import _validation
    from cinder_nb.errors import InvalidArgument
    props = host_connector
    assert props['nqn'].startswith('nqn.') and props['nqn'] == _read('/etc/nvme/hostnqn')
    assert props['nvme_hostid'] == _read('/etc/nvme/hostid') and props['nqn'].endswith(props['nvme_hostid'])
    assert _validation.connector(props, 'nvmeof') == props
    assert cinder_nvmeof_target(4420, 2).validate_connector(props) is True
    no_nqn = {k: v for k, v in props.items() if k != 'nqn'}
    with pytest.raises(InvalidArgument, match='nqn'):
        _validation.connector(no_nqn, 'nvmeof')
    with pytest.raises(exception.InvalidConnectorException, match='nqn'):
        cinder_nvmeof_target(4420, 2).validate_connector(no_nqn)


def test_nvmeof_attach_extend_detach_against_kernel_nvmet(backends, clean, host_connector):
    """An LV of Cinder's LVM driver exported by the kernel's nvmet over TCP; os-brick's
    NVMeOFConnector attaches it from Cinder's connection info (format 2: found by the
    namespace uuid) while a host NQN the target does not list is refused, the bytes written
    reach the LV, detach removes the controller; a second
    attach with format 1 (Cinder's default: found by namespace id) reads them back; the
    volume is extended by Cinder's driver and os-brick's extend_volume sees the new size;
    detach and the target's removal leave nothing."""
    from cinder_nb.connection import brick_connector_for
    lab = backends('thick')
    vol = lab.create_volume(1)
    lv = f'/dev/{VG["thick"]}/volume-{vol.id}'
    nqn = f'nqn.{TARGET_PREFIX}-{vol.id}'          # NVMET._get_target_nqn, non-shared
    port = _free_port()
    target = KernelTarget(nqn, lv, vol.id, host_connector['nqn'], port)
    marks = {0: b'nvme-head-' + vol.id.encode(), GiB - 4096: b'nvme-tail'}
    brick, data, device = None, None, None
    try:
        target.create()
        stranger = f'nqn.2014-08.org.nvmexpress:uuid:{uuid.uuid4()}'   # a host the target does not list
        refused = subprocess.run(['nvme', 'connect', '-t', 'tcp', '-a', '127.0.0.1', '-s', str(port),
                                  '-n', nqn, '-q', stranger], capture_output=True, text=True)
        assert refused.returncode != 0 and controllers(nqn) == [], 'the target admitted an unlisted host NQN'
        info = connection_info(vol.id, nqn, port, version=2)
        assert info == {'driver_volume_type': 'nvmeof',
                        'data': {'target_nqn': nqn, 'vol_uuid': vol.id, 'ns_id': str(NS_ID),
                                 'portals': [['127.0.0.1', str(port), 'tcp']]}}
        brick = brick_connector_for(info)      # cinder_nb's choice of os-brick connector
        assert type(brick).__name__ == 'NVMeOFConnector'
        data = info['data']
        device = brick.connect_volume(dict(data))
        path = device['path']
        ctrls = controllers(nqn)
        assert len(ctrls) == 1 and os.path.basename(path).startswith(ctrls[0] + 'n'), (path, ctrls)
        assert _read(f'/sys/class/nvme/{ctrls[0]}/transport') == 'tcp'
        assert _read(f'/sys/class/nvme/{ctrls[0]}/hostnqn') == host_connector['nqn']
        assert f'trsvcid={port}' in _read(f'/sys/class/nvme/{ctrls[0]}/address')
        assert size_of(path) == GiB
        for offset, blob in marks.items():
            write_at(path, offset, blob)
        brick.disconnect_volume(dict(data), device)
        device = None
        assert controllers(nqn) == [], 'disconnect_volume left the controller'
        assert {o: read_at(lv, o, len(b), uncached=True) for o, b in marks.items()} == marks, 'the bytes did not reach the LV'

        info = connection_info(vol.id, nqn, port, version=1)
        assert info['data'] == {'target_portal': '127.0.0.1', 'target_port': str(port), 'nqn': nqn,
                                'transport_type': 'tcp', 'ns_id': str(NS_ID)}
        data = info['data']
        device = brick.connect_volume(dict(data))
        path = device['path']
        assert {o: read_at(path, o, len(b), uncached=True) for o, b in marks.items()} == marks
        vol.extend(2)                                  # Cinder's LVM driver: lvextend
        assert size_of(lv) == 2 * GiB
        assert brick.extend_volume(dict(data)) == 2 * GiB
        assert size_of(path) == 2 * GiB
        write_at(path, 2 * GiB - 4096, b'nvme-new-tail')
        assert read_at(lv, 2 * GiB - 4096, 13, uncached=True) == b'nvme-new-tail'
        brick.disconnect_volume(dict(data), device)
        device = None
        assert controllers(nqn) == [], 'disconnect_volume left the controller'
    finally:
        if device is not None:
            try:
                brick.disconnect_volume(dict(data), device, force=True, ignore_errors=True)
            except Exception:
                pass
        errors = target.remove()
    assert errors == []
    assert not os.path.exists(f'{NVMET}/subsystems/{nqn}')
    assert not os.path.exists(f'{NVMET}/ports/{target.port_id}')
    assert controllers(nqn) == [] and not glob.glob('/dev/nvme*n*')
    vol.delete()
    assert f'volume-{vol.id}' not in lv_names(VG['thick'])
