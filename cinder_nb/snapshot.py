"""Snapshot: delete, and create a volume from it."""
from __future__ import annotations

from typing import Any

from cinder_nb import _cinder, _runtime, _validation, oplog
from cinder_nb.errors import InvalidArgument
from cinder_nb._resource import NamedResource, field, new_id, now
from cinder_nb._statuses import SNAPSHOT_STATUSES  # noqa: F401  (its public name here)


class Snapshot(NamedResource):
    """A snapshot of a volume. Attribute names follow cinderlib's Snapshot."""

    KIND = 'snapshot'
    DRIVER_FIELDS = _cinder.SNAPSHOT_DRIVER_FIELDS
    METADATA_FIELDS = ('metadata',)
    SUMMARY = ('id', 'name', 'volume_id', 'volume_size', 'status', 'backend', 'error', 'created_at')

    @classmethod
    def _new(cls, volume: Any, name: str | None = None, description: str | None = None,
             metadata: dict | None = None) -> 'Snapshot':
        _validation.text('name', name)
        _validation.text('description', description, max_len=4096)
        ts = now()
        return cls({'id': new_id(), 'backend': volume.backend_name, 'volume_id': volume.id,
                    'volume_size': volume.size, 'name': name or '', 'description': description or '',
                    'status': 'creating', 'metadata': _validation.str_mapping('metadata', metadata),
                    'driver_data': {}, 'error': None, 'created_at': ts, 'updated_at': ts})

    def _create(self, volume: Any) -> 'Snapshot':
        """Run the driver for a snapshot already stored as creating (Volume.create_snapshot,
        which passes itself: its record was just verified by that compare-and-swap)."""
        conns = volume._open_connection_records()
        # the volume's kept OVO (from its create) has the shape a snapshot's .volume has: lent
        # instead of a new build while it shows the volume's record (else None: built)
        shown = None if conns else volume._kept_volume_ovo(keep=True)
        ovo = _cinder.snapshot_ovo(self._rec, shown) if shown is not None else self._ovo_for(volume, conns)
        model = self._driver('create', lambda: self.backend.driver.create_snapshot(ovo))
        updates = self._driver_updates(ovo, model)
        self._finish(updates, status='available', error=None)
        if not conns:       # kept for the delete: its .volume shows a volume without connections
            self._keep_ovo(ovo, updates, volume)
        return self

    volume_id = field('volume_id')
    volume_size = field('volume_size')

    @property
    def volume(self) -> Any:
        """The source Volume."""
        return _runtime.get().get('volume', self.volume_id)

    def ovo(self) -> Any:
        """A fresh cinder.objects.Snapshot whose .volume is its volume without a snapshot list
        (the same shape a snapshot has inside a volume's list; see _cinder.volume_ovo)."""
        volume = self.volume
        return self._ovo_for(volume, volume._open_connection_records())

    def _ovo_for(self, volume: Any, conns: list[dict]) -> Any:
        """ovo() from the volume and its open connections' records, already read."""
        return _cinder.snapshot_ovo(self._rec, _cinder.shallow_volume_ovo(volume.record, conns))

    def _delete_ovo(self) -> Any:
        """The OVO kept from the create (see Resource._keep_ovo) while it and its .volume still
        show the records and the volume has no connection, else a new one (ovo())."""
        volume = self.volume
        conns = volume._open_connection_records()
        ovo = None if conns else self._kept_ovo(volume)
        if ovo is None or not (_cinder.unchanged_since_kept(ovo.volume, volume.record.get('metadata') or {})
                               and _cinder.bare_volume_ovo(ovo.volume)):
            return self._ovo_for(volume, conns)
        _cinder.refresh_in_place(ovo.volume, volume.record)
        return ovo

    @oplog.operation('snapshot.delete')
    def delete(self) -> None:
        """Delete the snapshot (a driver that reports it busy leaves it available)."""
        self._require_not_deleted('delete')
        old = self._transition('delete', {'available', 'error', 'error_deleting'}, 'deleting')
        ovo = self._delete_ovo()
        backend = self.backend
        self._driver_delete(old, lambda: backend.driver.delete_snapshot(ovo))

    @oplog.operation('snapshot.create_volume')
    def create_volume(self, name: str | None = None, description: str | None = None,
                      size: int | None = None, **kwargs: Any) -> Any:
        """A new volume holding this snapshot's data (size defaults to the snapshot's).

        Stored only if the snapshot is available now, in one compare-and-swap with it.
        """
        Volume = _runtime.class_of('volume')   # volume.py imports this module
        self._require_not_deleted('create a volume from')
        if size is not None:
            _validation.size('size', size)
        source = self.volume
        kwargs.setdefault('extra_specs', source.extra_specs)
        kwargs.setdefault('qos_specs', source.qos_specs)
        kwargs.setdefault('pool_name', source.pool_name)
        new = Volume._new(self.backend, self.volume_size if size is None else size, name=name,
                          description=description, snapshot_id=self.id, **kwargs)

        def prepare(snap: dict) -> None:
            if size is None:
                new.record['size'] = snap['volume_size']
            elif size < snap['volume_size']:
                raise InvalidArgument('size', size, f"at least the snapshot size {snap['volume_size']} GiB")
        return new._create_with('create a volume from', lambda ovo: self.backend.driver
                                .create_volume_from_snapshot(ovo, self.ovo()),
                                parent=self, parent_allowed=frozenset({'available'}), prepare=prepare)
