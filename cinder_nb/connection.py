"""Connection: a volume exported to a connector; optionally attached here through os-brick."""
from __future__ import annotations

import os
import platform
import socket
import sys
import stat
from typing import Any, Callable

from cinder_nb import _cinder, _runtime, ceph, oplog
from cinder_nb.errors import CinderNBError, DriverError, InvalidState
from cinder_nb._resource import Resource, field, new_id, now
from cinder_nb._statuses import CONNECTION_STATUSES  # noqa: F401  (its public name here)

#: protocol -> function(connection_info) -> os-brick connector; replaceable for protocols
#: whose kernel path is missing here (see cinder_nb.ceph)
CONNECTOR_FACTORIES: dict[str, Callable[[dict], Any]] = {}


def root_helper() -> str:
    return '' if os.geteuid() == 0 else 'sudo'


def local_connector() -> dict:
    """This host's connector dict, as os-brick reports it.

    Without root, os-brick's per-protocol probes (NVMe-oF host NQN, iSCSI initiator
    name) would start a privsep daemon through sudo and fail; then only the
    protocol-independent part is returned, which is all the LOCAL protocol needs.
    """
    if os.geteuid() == 0:
        from os_brick.initiator import connector as brick_connector
        props = brick_connector.get_connector_properties(root_helper(), _my_ip(), False, False,
                                                         host=socket.gethostname())
    else:
        props = {'platform': platform.machine(), 'os_type': sys.platform, 'ip': _my_ip(),
                 'host': socket.gethostname(), 'multipath': False, 'enforce_multipath': False}
    props.setdefault('host', socket.gethostname())
    return props


def _my_ip() -> str:
    try:
        return socket.gethostbyname(socket.gethostname())
    except OSError:
        return '127.0.0.1'


def brick_connector_for(connection_info: dict, rbd_attach: str = 'fuse') -> Any:
    """The connector for connection_info's protocol; for RBD the one of ``rbd_attach``
    ('krbd': os-brick's RBDConnector mapping through the kernel, 'fuse': rbd-fuse)."""
    protocol = connection_info['driver_volume_type']
    factory = CONNECTOR_FACTORIES.get(protocol.lower())
    if factory is not None:
        return factory(connection_info)
    if protocol.lower() == 'rbd':
        return ceph.connector_factory(connection_info, rbd_attach)
    from os_brick.initiator import connector as brick_connector
    return brick_connector.InitiatorConnector.factory(protocol, root_helper(), use_multipath=False,
                                                      device_scan_attempts=3)


class Connection(Resource):
    """A volume's export to one connector. Attribute names follow cinderlib's Connection."""

    KIND = 'connection'
    SUMMARY = ('id', 'volume_id', 'status', 'protocol', 'path', 'attach_mode', 'host', 'backend',
               'error', 'created_at')

    @classmethod
    def _connect(cls, volume: Any, connector: dict, attach_mode: str) -> 'Connection':
        ts = now()
        conn = cls({'id': new_id(), 'backend': volume.backend_name, 'volume_id': volume.id,
                    'connector': connector, 'attach_mode': attach_mode, 'connection_info': {},
                    'device': None, 'status': 'attaching', 'error': None,
                    'created_at': ts, 'updated_at': ts})
        backend = volume.backend

        def store(txn: _runtime.Txn) -> None:     # the connection exists only if the volume is usable now
            rec = txn.read(volume)
            if rec.get('status') not in ('available', 'in-use'):
                raise volume._not_allowed('connect', rec.get('status'), {'available', 'in-use'})
            _check_multiattach(volume, rec, txn.children('connection', volume.id))
            txn.bump(volume)
            txn.insert(conn, conn.record)
        rt = _runtime.get()
        rt.transact(store, volume, 'connect')
        ovo = volume.ovo()
        ctxt = _cinder.context()
        try:
            model = backend.driver.create_export(ctxt, ovo, connector)
            volume._absorb(ovo, model)
            # The export's model update (provider_location, provider_auth) is what the
            # driver's initialize_connection reads: give it an OVO built from the updated record.
            ovo = volume.ovo()
            info = backend.driver.initialize_connection(ovo, connector)
        except Exception as exc:
            err: DriverError | None = DriverError('connect', 'volume', volume.id, exc)
        else:
            err = None
        if err is not None:     # outside the except block: no driver exception chained
            conn._record_failure('error', err.message)
            raise err

        def attached(txn: _runtime.Txn) -> None:
            crec, vrec = txn.read(conn), txn.read(volume)
            txn.put(conn, {**crec, 'connection_info': info, 'status': 'attached', 'error': None,
                           'updated_at': now()})
            if vrec.get('status') == 'available':   # a running extend or revert settles it itself
                txn.put(volume, {**vrec, 'status': 'in-use', 'updated_at': now()}, status_only=True)
        rt.transact(attached, conn, 'connect')
        return conn

    # ------------------------------------------------------------------ attributes
    volume_id = field('volume_id')

    @property
    def volume(self) -> Any:
        return _runtime.get().get('volume', self.volume_id)

    connector = field('connector')
    connector_info = field('connector')

    @property
    def host(self) -> str | None:
        """The connecting host: the connector's ``host``."""
        return (self._rec.get('connector') or {}).get('host')
    connection_info = field('connection_info')

    conn_info = connection_info

    @property
    def protocol(self) -> str | None:
        return (self._rec.get('connection_info') or {}).get('driver_volume_type')

    attach_mode = field('attach_mode')
    device = field('device', "os-brick's device info of a local attach, or None.")

    @property
    def path(self) -> str | None:
        """The local device (or file) path of a local attach, or None."""
        return (self._rec.get('device') or {}).get('path')

    @property
    def attached(self) -> bool:
        """True when attached locally through os-brick."""
        return bool(self._rec.get('device'))

    @property
    def connected(self) -> bool:
        return self.status == 'attached'

    def _summary(self) -> dict:
        pub = self.public_record()
        out = {k: pub.get(k) for k in ('id', 'volume_id', 'status', 'attach_mode', 'backend', 'error',
                                        'created_at')}
        out['protocol'] = self.protocol
        out['path'] = self.path
        out['host'] = self.host
        return {k: out.get(k) for k in self.SUMMARY}

    # ------------------------------------------------------------------ os-brick
    def _brick(self, rbd_attach: str | None = None) -> Any:
        """The os-brick connector; an RBD attach keeps the method it was made with (an
        attach recorded before krbd existed was rbd-fuse)."""
        method = rbd_attach or (self._rec.get('device') or {}).get('rbd_attach') or 'fuse'
        return brick_connector_for(self.connection_info, method)

    def _attach_local(self, rbd_attach: str | None = None) -> None:
        """Attach through os-brick. For RBD, ``rbd_attach`` ('auto', 'krbd', 'fuse'; None:
        ``$CINDER_NB_RBD_ATTACH`` or 'auto') picks the kernel map or rbd-fuse, see cinder_nb.ceph."""
        method = None
        try:
            if (self.protocol or '').lower() == 'rbd':
                method = ceph.attach_method(rbd_attach)
        except CinderNBError:
            try:
                self.disconnect()
            except Exception:
                pass
            raise
        try:
            device = self._brick(method).connect_volume(self.connection_info['data'])
        except Exception as exc:
            err: DriverError | None = DriverError('attach', 'volume', self.volume_id, exc)
        else:
            err = None
        if err is not None:     # outside the except block: no driver exception chained
            try:
                self.disconnect()
            except Exception:
                pass
            raise err
        device = dict(device)
        if method is not None:
            device['rbd_attach'] = method
        self._set(device=device)

    @oplog.operation('connection.extend')
    def extend(self) -> int:
        """Make the attached device see the volume's new size; returns it in bytes."""
        if not self.attached:
            raise InvalidState('connection', self.id, self.status, 'extend', 'It is not attached locally.')
        path = self.path
        if path and os.path.exists(path) and stat.S_ISREG(os.stat(path).st_mode):
            # os-brick's LOCAL connector sizes block devices with blockdev(8); a file-mode
            # attach is a regular file whose size already is the volume's.
            return os.path.getsize(path)
        return self._brick().extend_volume(self.connection_info['data'])

    @oplog.operation('connection.detach')
    def detach(self, force: bool = False, disconnect: bool = True) -> None:
        """Detach the local device through os-brick, then disconnect.

        ``disconnect=False`` keeps the export (the connection stays, not attached) for a
        later attach or disconnect(), as cinderlib's Connection.detach() did.
        """
        if not self.attached:
            raise InvalidState('connection', self.id, self.status, 'detach', 'It is not attached locally.')
        try:
            self._brick().disconnect_volume(self.connection_info['data'], self.device, force=force,
                                            ignore_errors=force)
        except Exception as exc:
            err: DriverError | None = DriverError('detach', 'connection', self.id, exc)
        else:
            err = None
        if err is not None:     # outside the except block: no driver exception chained
            self._record_failure('error', err.message)
            raise err
        self._set(device=None)
        if disconnect:
            self.disconnect(force=force)

    @oplog.operation('connection.disconnect')
    def disconnect(self, force: bool = False) -> None:
        """Terminate the export (and remove it when it was the volume's last connection)."""
        if self.status == 'deleted':
            raise InvalidState('connection', self.id, 'deleted', 'disconnect')
        if self.attached and not force:
            raise InvalidState('connection', self.id, self.status, 'disconnect',
                               'It is attached locally: call detach() first.')
        # not from 'attaching': the connect() still in the driver would then fail NotFound and
        # leave its export behind; a connect a dead process left there is reset_status() first
        self._transition('disconnect', {'attached', 'error'}, 'detaching')
        volume = self.volume
        backend = volume.backend
        ovo = volume.ovo()
        others = [c for c in volume.connections if c.id != self.id]

        def call() -> None:
            backend.driver.terminate_connection(ovo, self.connector, force=force)
            if not others:
                backend.driver.remove_export(_cinder.context(), ovo)
        self._driver('disconnect', call)

        def gone(txn: _runtime.Txn) -> None:      # drop the record; the volume is in-use while other connections remain
            vrec = txn.read(volume)
            txn.delete(self)
            rest = [c for c in txn.children('connection', volume.id)
                    if c['id'] != self.id and c.get('status') != 'error']
            status = vrec.get('status')
            if status in ('available', 'in-use'):
                status = 'in-use' if rest else 'available'
            txn.put(volume, {**vrec, 'status': status, 'updated_at': now()}, status_only=True)
        _runtime.get().transact(gone, self, 'disconnect')
        self._mark_deleted()


def _check_multiattach(volume: Any, rec: dict, conns: list[dict]) -> None:
    existing = [c for c in conns if c.get('status') in ('attached', 'attaching')]
    if existing and not rec.get('multiattach'):
        hosts = {(c.get('connector') or {}).get('host') for c in existing}
        raise InvalidState('volume', volume.id, str(rec.get('status')), 'connect',
                           f'It is already connected ({len(existing)} connection(s), hosts {sorted(map(str, hosts))}) '
                           'and is not multiattach: disconnect first or create it with multiattach=True.')
