"""Volume: create, delete, extend, clone, snapshot, connect and attach."""
from __future__ import annotations

import contextlib
import socket
from typing import Any, Callable

from cinder_nb import _cinder, _runtime, _validation, ceph, oplog
from cinder_nb.errors import InvalidArgument, InvalidState
from cinder_nb._resource import STATUS_KEYS, NamedResource, Resource, field, new_id, now
from cinder_nb._secrets import SCRUBBER
from cinder_nb._statuses import USABLE, VOLUME_STATUSES  # noqa: F401  (its public name here)
from cinder_nb.connection import Connection, local_connector
from cinder_nb.snapshot import Snapshot



class Volume(NamedResource):
    """A volume on a backend. Attribute names follow cinderlib's Volume."""

    KIND = 'volume'
    RESETTABLE = ('available', 'error', 'in-use')
    DRIVER_FIELDS = _cinder.VOLUME_DRIVER_FIELDS
    METADATA_FIELDS = ('metadata', 'admin_metadata')
    SUMMARY = ('id', 'name', 'size', 'status', 'backend', 'pool_name', 'source_volid',
               'snapshot_id', 'error', 'created_at')

    # ------------------------------------------------------------------ construction
    @classmethod
    def _new(cls, backend: Any, size: int, name: str | None = None, description: str | None = None,
             pool_name: str | None = None, extra_specs: dict | None = None,
             qos_specs: dict | None = None, metadata: dict | None = None,
             multiattach: bool = False, bootable: bool = False, source_volid: str | None = None,
             snapshot_id: str | None = None, id: str | None = None) -> 'Volume':
        _validation.size('size', size)
        _validation.text('name', name)
        _validation.text('description', description, max_len=4096)
        pool_name = backend._check_pool(pool_name)
        for flag, value in (('multiattach', multiattach), ('bootable', bootable)):
            if not isinstance(value, bool):
                raise InvalidArgument(flag, value, 'True or False')
        if id is not None:
            _validation.resource_id('id', id)   # '' too: it is refused, not replaced
        ts = now()
        rec = {
            'id': new_id() if id is None else id, 'backend': backend.id, 'pool_name': pool_name,
            'name': name or '', 'description': description or '', 'size': size,
            'status': 'creating', 'source_volid': source_volid, 'snapshot_id': snapshot_id,
            'extra_specs': _validation.str_mapping('extra_specs', extra_specs),
            'qos_specs': _validation.str_mapping('qos_specs', qos_specs),
            'metadata': _validation.str_mapping('metadata', metadata), 'admin_metadata': {},
            'multiattach': multiattach, 'bootable': bootable, 'driver_data': {}, 'error': None,
            'created_at': ts, 'updated_at': ts,
        }
        operation = ('clone a volume' if source_volid else 'create a volume from a snapshot'
                     if snapshot_id else 'create a volume')
        backend._check_capacity(pool_name, size, f'{operation} of {size} GiB',
                                extra_specs=rec['extra_specs'])
        return cls(rec)

    def _create_with(self, operation: str, call: Callable[..., Any], parent: Resource | None = None,
                     parent_allowed: frozenset = frozenset(),
                     prepare: Callable[[dict], None] | None = None) -> 'Volume':
        """Store the new volume as creating, run the driver call, record the outcome.

        With a parent (the source volume of a clone, the snapshot of a volume from
        snapshot), the new record is stored only if the parent's current status is in
        parent_allowed, in the same compare-and-swap that bumps the parent's version;
        prepare(parent_record) may adjust the new record from the fresh parent or refuse.
        """
        def step(txn: _runtime.Txn) -> Any:
            if txn.exists('volume', self.id):
                raise InvalidArgument('id', self.id, 'an id no other volume has')
            if parent is not None:
                prec = txn.read(parent)
                if prec.get('status') not in parent_allowed:
                    raise parent._not_allowed(operation, str(prec.get('status')), parent_allowed)
                if prepare is not None:
                    prepare(prec)
                txn.bump(parent)
            txn.insert(self, self._rec)
        # with a parent, its delete lock, taken before its status is checked and held through
        # the driver call: a delete of the parent (here or on another host) waits for this copy
        # instead of removing its storage under the driver (Cinder's volume manager does the
        # same with '<source id>-delete_volume')
        with parent._delete_lock() if parent is not None else contextlib.nullcontext():
            _runtime.get().transact(step, parent if parent is not None else self, operation)
            ovo = _cinder.volume_ovo(self._rec)   # a new volume: no snapshots or connections to look up
            model = self._driver(operation, lambda: call(ovo))
        updates = self._driver_updates(ovo, model)
        self._finish(updates, status='available', error=None)
        self._keep_ovo(ovo, updates)
        return self

    def _settle(self, **values: Any) -> None:
        """End an operation: set values and the status the volume's connections give it
        ('in-use' while any connection is not in error, else 'available'), on fresh data."""
        def step(txn: _runtime.Txn) -> Any:
            rec = txn.read(self)
            conns = [c for c in txn.children('connection', self.id) if c.get('status') != 'error']
            txn.put(self, {**rec, **values, 'status': 'in-use' if conns else 'available', 'updated_at': now()},
                    status_only=values.keys() <= STATUS_KEYS)
        _runtime.get().transact(step, self, 'update')

    # ------------------------------------------------------------------ attributes
    size = field('size')
    pool_name = field('pool_name')
    source_volid = field('source_volid')
    snapshot_id = field('snapshot_id')

    @property
    def extra_specs(self) -> dict:
        return dict(self._rec.get('extra_specs') or {})

    @property
    def qos_specs(self) -> dict:
        return dict(self._rec.get('qos_specs') or {})

    @property
    def metadata(self) -> dict:
        return dict(self._rec.get('metadata') or {})

    @property
    def multiattach(self) -> bool:
        return bool(self._rec.get('multiattach'))

    @property
    def provider_location(self) -> str | None:
        return (self._rec.get('driver_data') or {}).get('provider_location')

    @property
    def name_in_storage(self) -> str:
        return f'volume-{self.id}'

    @property
    def snapshots(self) -> list:
        """This volume's snapshots (from the state store)."""
        return _runtime.get().find('snapshot', volume_id=self.id)

    @property
    def connections(self) -> list:
        """This volume's connections (from the state store)."""
        return _runtime.get().find('connection', volume_id=self.id)

    @property
    def local_attach(self) -> Connection | None:
        """The Connection of a local attach (attach() on this host), or None.

        A device recorded for another host's connector (cinderlib's device_attached())
        is that host's: this host neither rescans nor detaches it.
        """
        here = socket.gethostname()
        for conn in self.connections:
            if conn.attached and (conn.connector or {}).get('host', here) == here:
                return conn
        return None

    # ------------------------------------------------------------------ Cinder objects
    def ovo(self) -> Any:
        """A fresh cinder.objects.Volume for a driver call."""
        snaps = [s.record for s in self.snapshots if s.status != 'deleted']
        return _cinder.volume_ovo(self._rec, snapshots=snaps, connections=self._open_connection_records())

    def _source_ovo(self) -> Any:
        """ovo() for a clone's source: its snapshot list is loaded only if the driver reads it
        (_cinder.source_volume_ovo)."""
        return _cinder.source_volume_ovo(self._rec, self._open_connection_records())

    def _open_connection_records(self) -> list[dict]:
        """The records of this volume's connections that are not deleted (what its OVO attaches)."""
        rt = _runtime.get()
        # none stored for this volume and none held here only: no Connection objects to make
        # (find() would also drop live ones another process deleted; none of them is open)
        if not rt.unsaved['connection'] and not rt.persistence.scan('connection', volume_id=self.id):
            return []
        return [c.record for c in rt.find('connection', volume_id=self.id) if c.status != 'deleted']

    def _kept_volume_ovo(self, keep: bool = False) -> Any:
        """The OVO kept from the create (see Resource._keep_ovo), if it still shows the record;
        it was built without snapshots or connections, so it serves only a volume without any
        (a delete), or as a snapshot's .volume, which has no snapshot list (keep=True: lent)."""
        ovo = self._kept_ovo(keep=keep)
        if ovo is None or not _cinder.bare_volume_ovo(ovo, self._rec.get('admin_metadata') or {}):
            return None
        return ovo

    # ------------------------------------------------------------------ operations
    @oplog.operation('volume.delete')
    def delete(self) -> None:
        """Delete the volume (it must have no snapshots and no connections).

        The check of the children and the move to 'deleting' are one compare-and-swap:
        a snapshot or connection created meanwhile (which bumps this volume's version)
        makes it retry on fresh data and refuse.
        """
        def check(txn: _runtime.Txn, rec: dict) -> None:
            if rec['status'] == 'in-use':
                raise InvalidState('volume', self.id, 'in-use', 'delete',
                                   'It is attached or connected: detach() / disconnect() it first.')
            snaps = [s['id'] for s in txn.children('snapshot', self.id)]
            if snaps:
                raise InvalidState('volume', self.id, rec['status'], 'delete',
                                   f'It still has snapshots {snaps}: delete them first.')
            conns = [c['id'] for c in txn.children('connection', self.id)]
            if conns:
                raise InvalidState('volume', self.id, rec['status'], 'delete',
                                   f'It has connections {conns}: detach/disconnect them first.')
        self._require_not_deleted('delete')
        old = self._transition('delete', {'available', 'error', 'error_deleting', 'in-use'}, 'deleting', check)
        ovo = self._kept_volume_ovo() or _cinder.volume_ovo(self._rec)   # check() found no snapshots or connections
        backend = self.backend
        self._driver_delete(old, lambda: backend.driver.delete_volume(ovo))

    @oplog.operation('volume.extend')
    def extend(self, new_size: int) -> None:
        """Grow the volume to new_size GiB; an attached device sees the new size."""
        self._require_not_deleted('extend')
        _validation.size('new_size', new_size)
        if new_size > self.size:   # capacity first (no store transaction held while the driver reports)
            self.backend._check_capacity(self.pool_name, new_size, f'extend volume {self.id} to {new_size} GiB',
                                         current_size=self.size, extra_specs=self.extra_specs)

        def check(txn: _runtime.Txn, rec: dict) -> None:
            if new_size <= rec['size']:
                raise InvalidArgument('new_size', new_size, f"more than the current size {rec['size']} GiB")
        self._transition('extend', USABLE, 'extending', check)
        ovo = self.ovo()
        self._driver('extend', lambda: self.backend.driver.extend_volume(ovo, new_size))
        self._settle(size=new_size, error=None)
        local = self.local_attach
        if local is not None:
            local.extend()

    @oplog.operation('volume.clone')
    def clone(self, name: str | None = None, description: str | None = None, size: int | None = None,
              **kwargs: Any) -> 'Volume':
        """A new volume with this one's data (size defaults to this volume's)."""
        self._require_not_deleted('clone')
        if size is not None:
            _validation.size('size', size)
        kwargs.setdefault('extra_specs', self.extra_specs)
        kwargs.setdefault('qos_specs', self.qos_specs)
        kwargs.setdefault('pool_name', self.pool_name)
        new = Volume._new(self.backend, self.size if size is None else size, name=name,
                          description=description, source_volid=self.id, **kwargs)

        def prepare(src: dict) -> None:               # sizes checked against the source as stored now
            if size is None:
                new.record['size'] = src['size']
            elif size < src['size']:
                raise InvalidArgument('size', size, f"at least the source size {src['size']} GiB")
        return new._create_with('clone', lambda ovo: self.backend.driver.create_cloned_volume(ovo, self._source_ovo()),
                                parent=self, parent_allowed=USABLE, prepare=prepare)

    @oplog.operation('volume.copy_to')
    def copy_to(self, backend: Any, name: str | None = None, chunk_mib: int = 4, sparse: bool | None = None,
                progress: Callable[[int, int], Any] | None = None, **kwargs: Any) -> 'Volume':
        """A new volume on another backend holding this volume's data (host-assisted copy).

        Cinder's driver API has no cross-backend clone; like Cinder's generic migration,
        both volumes are attached here and the data copied. ``sparse=True`` skips all-zero
        chunks (right only where a new volume reads as zeros); by default it follows the
        target driver's ``sparse_copy_volume`` capability, as Cinder does. The source must
        be available (not attached). ``progress(done_bytes, total_bytes)`` is called after
        each chunk; an exception it raises (or KeyboardInterrupt) cancels the copy. On failure
        or cancel both volumes are detached and the new volume stays, marked 'error'.
        """
        self._require_not_deleted('copy')
        if not isinstance(backend, _runtime.class_of('backend')):
            raise InvalidArgument('backend', backend, 'a loaded cinder_nb.Backend')
        if self.status != 'available':
            raise InvalidState('volume', self.id, self.status, 'copy', 'Detach it first.')
        _validation.size('chunk_mib', chunk_mib)
        if progress is not None and not callable(progress):
            raise InvalidArgument('progress', progress, 'None or a callable(done_bytes, total_bytes)')
        if sparse is None:
            sparse = bool(backend.stats().get('sparse_copy_volume'))
        elif not isinstance(sparse, bool):
            raise InvalidArgument('sparse', sparse, 'True, False or None (the target driver decides)')
        target = backend.create_volume(self.size, name=name if name is not None else self.name,
                                       description=kwargs.pop('description', self.description), **kwargs)
        try:
            src = self.attach()
            try:
                dst = target.attach()
                try:
                    if src.path is None or dst.path is None:    # attach() always sets it
                        raise InvalidState('volume', self.id, self.status, 'copy', 'An attach gave no device path.')
                    _copy_device(src.path, dst.path, self.size << 30, chunk_mib << 20, sparse, progress)
                finally:
                    target.detach()
            finally:
                self.detach()
        except BaseException as exc:   # KeyboardInterrupt too: a half-copied volume must not look usable
            target._record_failure('error', f'copy from volume {self.id} failed: {SCRUBBER.scrub(str(exc))}')
            raise
        return target

    @oplog.operation('volume.create_snapshot')
    def create_snapshot(self, name: str | None = None, description: str | None = None,
                        metadata: dict | None = None) -> Snapshot:
        """Snapshot this volume.

        The snapshot is stored (with the volume's current size) only if the volume is
        available or in-use now, in one compare-and-swap that bumps the volume's version.
        """
        self._require_not_deleted('snapshot')
        snap = Snapshot._new(self, name=name, description=description, metadata=metadata)

        def step(txn: _runtime.Txn) -> Any:
            rec = txn.read(self)
            if rec.get('status') not in USABLE:
                raise self._not_allowed('snapshot', str(rec.get('status')), USABLE)
            txn.bump(self)
            snap.record['volume_size'] = rec['size']
            txn.insert(snap, snap.record)
        _runtime.get().transact(step, self, 'snapshot')
        return snap._create(self)

    @oplog.operation('volume.revert_to_snapshot')
    def revert_to_snapshot(self, snapshot: Snapshot) -> None:
        """Roll the volume's data back to one of its snapshots (volume must be available)."""
        if snapshot.volume_id != self.id:
            raise InvalidArgument('snapshot', snapshot.id, f'a snapshot of volume {self.id}')

        def check(txn: _runtime.Txn, rec: dict) -> None:
            srec = txn.read(snapshot)
            if srec.get('status') != 'available':
                raise snapshot._not_allowed('revert to', str(srec.get('status')), {'available'})
            txn.bump(snapshot)      # no delete can start meanwhile
        self._transition('revert', {'available'}, 'reverting', check)
        ovo, snap_ovo = self.ovo(), snapshot.ovo()
        self._driver('revert', lambda: self.backend.driver.revert_to_snapshot(
            _cinder.context(), ovo, snap_ovo))
        self._settle(error=None)

    @oplog.operation('volume.connect')
    def connect(self, connector_dict: dict, attach_mode: str = 'rw') -> Connection:
        """Export the volume to a host described by an os-brick connector dict."""
        self._require_not_deleted('connect')
        _validation.choice('attach_mode', attach_mode, ('rw', 'ro'))
        connector = _validation.connector(connector_dict)
        self.backend.validate_connector(connector)
        return Connection._connect(self, connector, attach_mode)

    @oplog.operation('volume.attach')
    def attach(self, rbd_attach: str | None = None) -> Connection:
        """Connect to this host and attach locally through os-brick; returns the Connection.

        rbd_attach (RBD volumes only): 'krbd' maps the image with the kernel's rbd module
        (os-brick's RBDConnector, /dev/rbdN), 'fuse' goes through rbd-fuse, 'auto' takes krbd
        where the module is loaded and we are root; None: ``$CINDER_NB_RBD_ATTACH`` or 'auto'.
        'krbd' where it cannot work raises AttachUnavailable (nothing is left connected)."""
        self._require_not_deleted('attach')
        if self.local_attach is not None:
            raise InvalidState('volume', self.id, self.status, 'attach', 'It is already attached here.')
        if rbd_attach is not None:
            _validation.choice('rbd_attach', rbd_attach, ceph.ATTACH_METHODS)
        conn = Connection._connect(self, local_connector(), 'rw')
        conn._attach_local(rbd_attach)
        return conn

    @oplog.operation('volume.detach')
    def detach(self, force: bool = False) -> None:
        """Detach the local attach and disconnect it."""
        conn = self.local_attach
        if conn is None:
            raise InvalidState('volume', self.id, self.status, 'detach', 'It is not attached here.')
        conn.detach(force=force)


def _copy_device(src: str, dst: str, size: int, chunk: int, sparse: bool,
                 progress: Callable[[int, int], Any] | None = None) -> None:
    """Copy size bytes from src to dst; with sparse, chunks that are all zeros are not written."""
    import os
    zero = bytes(chunk)
    sfd, dfd = os.open(src, os.O_RDONLY), os.open(dst, os.O_WRONLY)
    try:
        offset = 0
        while offset < size:
            data = os.pread(sfd, min(chunk, size - offset), offset)
            if not data:
                break
            if not sparse or data != zero[:len(data)]:
                os.pwrite(dfd, data, offset)
            offset += len(data)
            if progress is not None:
                progress(offset, size)
        os.fsync(dfd)
    finally:
        os.close(sfd)
        os.close(dfd)
