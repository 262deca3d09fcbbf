"""What volumes, snapshots and connections share: a record, a status, guarded driver calls."""
from __future__ import annotations

import html
import logging
from typing import Any, Callable, Iterable, Self

from cinder_nb import _cinder, _runtime, _validation, serialization
from cinder_nb._runtime import new_id, now
from cinder_nb._statuses import TRANSITIONAL
from cinder_nb.errors import DriverError, InvalidState, NotFound, summary
from cinder_nb._secrets import REDACTED, redact

LOG = logging.getLogger('cinder_nb')

#: the record keys a write may set without changing what a Cinder object shows (with updated_at)
STATUS_KEYS = frozenset({'status', 'error'})


def field(key: str, doc: str = '') -> property:
    """A read-only attribute that reads key from the resource's record."""
    return property(lambda self: self._rec.get(key), doc=doc or f'The record\'s {key!r}.')


class Resource:
    """Base of Volume, Snapshot and Connection: wraps one record (a JSON-able dict).

    A subclass that sets its own KIND registers itself as the class of that kind's records.
    """

    KIND = 'resource'
    #: statuses reset_status() may set
    RESETTABLE: tuple[str, ...] = ('available', 'error')
    #: Cinder object fields a driver may set that the record keeps in 'driver_data'
    DRIVER_FIELDS: frozenset = frozenset()
    #: dict fields a driver may replace wholesale (metadata)
    METADATA_FIELDS: tuple = ()
    #: fields shown by repr / the HTML repr, in order
    SUMMARY: tuple[str, ...] = ('id', 'status')

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if 'KIND' in cls.__dict__:
            _runtime.register_class(cls.KIND, cls)

    def __init__(self, record: dict, version: int = 0) -> None:
        self._rec = record
        #: version of the stored record this object holds (0: not stored yet / unknown)
        self._version = version
        #: counts the changes of its record in anything a Cinder object shows (anything but
        #: status, updated_at and error): what tells a kept OVO still shows it (_kept_ovo)
        self._shape = 0
        #: the OVO its create ran with and the shapes of the records it shows (_keep_ovo)
        self._kept: tuple | None = None

    # ------------------------------------------------------------- record access
    @property
    def record(self) -> dict:
        """The full record (secrets included): stays in this process."""
        return self._rec

    def public_record(self) -> dict:
        """A deep copy with every secret replaced: what may leave the process."""
        return redact(self._rec)

    def _replace_record(self, record: dict, version: int | None = None) -> None:
        """Take record (read from the store or a loaded document) in place of this object's
        record, at version when given: one change of what its Cinder objects show (_shape),
        since nothing says which fields differ."""
        self._rec.clear()
        self._rec.update(record)
        if version is not None:
            self._version = version
        self._shape += 1

    id = field('id')
    status = field('status')
    backend_name = field('backend')

    @property
    def backend(self) -> Any:
        """The Backend this resource lives on (a stored one is reopened from its configuration)."""
        return _runtime.get().backend(self._rec['backend'])

    created_at = field('created_at')
    updated_at = field('updated_at')
    error = field('error', "The driver's message from the last failed operation, if any.")

    # ------------------------------------------------------------- lookups (cinderlib's names)
    @classmethod
    def get_by_id(cls, ident: str) -> Self:
        """The resource with that id, from the store or this process; NotFound if there is none."""
        _validation.text('id', ident, allow_none=False, max_len=255)
        return _runtime.get().get(cls.KIND, ident)

    @classmethod
    def get_all(cls, backend: str | None = None) -> list:
        """Every resource of this kind (of the backend with that name, or of all), oldest first."""
        return _runtime.get().find(cls.KIND, backend=backend)

    def refresh(self) -> None:
        """Re-read this resource from the store (another process may have changed it).

        Raises NotFound (and the object reads status 'deleted') when it was deleted.
        """
        _runtime.get().refresh(self)

    # ------------------------------------------------------------- compare-and-swap writes
    @property
    def version(self) -> int:
        """The stored record's version this object last read or wrote (0: not stored yet)."""
        return self._version

    def _update(self, change: Callable[[dict], dict], operation: str = 'update') -> Any:
        """Apply change(fresh_record) -> {field: value} as a compare-and-swap on this record.

        change() runs on the record as stored now (another process may have changed it)
        and may raise a typed error to refuse; the write goes through only at the
        version read, else it is retried on fresher data (_runtime.transact).
        """
        def step(txn: _runtime.Txn) -> Any:
            rec = txn.read(self)
            values = change(rec)
            txn.put(self, {**rec, **values, 'updated_at': now()}, status_only=values.keys() <= STATUS_KEYS)
        return _runtime.get().transact(step, self, operation)

    def _set(self, **values: Any) -> None:
        """Set fields on the current stored record (not on this object's possibly stale copy)."""
        self._update(lambda rec: values)

    def _transition(self, operation: str, allowed: Iterable[str], new_status: str | None,
                    check: Callable[[Any, dict], None] | None = None) -> str:
        """Check the current status (and check(txn, record)), move to new_status (None: keep it)
        in one compare-and-swap; returns the status it found."""
        def step(txn: _runtime.Txn) -> Any:
            rec = txn.read(self)
            old = str(rec.get('status'))
            if old not in allowed:
                raise self._not_allowed(operation, old, allowed)
            if check is not None:
                check(txn, rec)
            txn.put(self, {**rec, 'status': old if new_status is None else new_status, 'updated_at': now()},
                    status_only=True)
            return old
        return _runtime.get().transact(step, self, operation)

    def _not_allowed(self, operation: str, status: str, allowed: Iterable[str]) -> InvalidState:
        hint = f"Allowed from: {', '.join(sorted(allowed))}."
        if status in TRANSITIONAL:
            hint += (' If the process doing it died, mark it with reset_status() '
                     "(like 'cinder reset-state') and retry.")
        return InvalidState(self.KIND, self.id, status, operation, hint)

    def reset_status(self, status: str = 'error') -> None:
        """Force the recorded status, as 'cinder reset-state' does (no driver call).

        For resources left in a transitional status (creating, deleting, ...) by a
        process that died mid-operation. 'error' is the safe choice: from there the
        resource can be deleted, which lets the driver clean up what exists.
        """
        self._require_not_deleted('reset the status of')
        _validation.choice('status', status, self.RESETTABLE)
        self._set(status=status)

    def _record_failure(self, status: str, message: str) -> None:
        """Record a failed operation's status and message; a record deleted meanwhile stays gone."""
        try:
            self._set(status=status, error=message)
        except NotFound:
            pass

    def _driver(self, operation: str, call: Callable[[], Any], fail_status: str = 'error',
                on_fail: Callable[[], None] | None = None) -> Any:
        """Run a driver call; on failure record fail_status and the message, raise DriverError."""
        try:
            return call()
        except Exception as exc:
            err = DriverError(operation, self.KIND, self.id, exc)
        # handled after the except block: the driver's exception (which may quote a
        # secret) is neither the DriverError's __cause__ nor its __context__
        LOG.warning('%s', err.message)
        self._record_failure(fail_status, err.message)
        if on_fail is not None:
            on_fail()
        raise err

    def _driver_delete(self, old_status: str, call: Callable[[], Any]) -> None:
        """Run the driver's delete, then drop the record and mark this object 'deleted'.

        A driver that answers 'busy' (SnapshotIsBusy, VolumeIsBusy) puts old_status back
        and raises InvalidState; any other failure records 'error_deleting' (DriverError).
        """
        err: InvalidState | DriverError
        try:
            with self._delete_lock():
                call()
        except (_cinder.cinder_exception.SnapshotIsBusy, _cinder.cinder_exception.VolumeIsBusy) as exc:
            said = summary(exc)
            status, err = old_status, InvalidState(self.KIND, self.id, 'busy', 'delete',
                                                   f'The driver says: {said}')
        except Exception as exc:
            err = DriverError('delete', self.KIND, self.id, exc)
            status, said = 'error_deleting', err.message
        else:
            _runtime.get().forget(self)
            self._mark_deleted()
            _cinder.remove_resource_locks(self.KIND, self.id, self.backend.driver)
            return
        # outside the except block: the driver's exception is not chained to err
        self._record_failure(status, said)
        raise err

    def _delete_lock(self) -> Any:
        """The lock (shared by every host on the lock service) that a delete of this resource
        holds through its driver call, and a volume made from it (clone, volume from snapshot)
        through its own. One of a fixed set of names per kind (_cinder.striped_lock_name)."""
        return _cinder.lock(_cinder.striped_lock_name(f'{self.KIND}-delete', self.id))

    def _mark_deleted(self) -> None:
        """The end of a delete whose record is gone from the store: this object says 'deleted'."""
        self._rec['status'] = 'deleted'
        self._rec['updated_at'] = now()

    def _driver_updates(self, ovo: Any, model_update: dict | None) -> dict:
        """What a driver returned or set on the OVO in place (merge with _merge_driver_values)."""
        values = _cinder.changed_fields(ovo, self.DRIVER_FIELDS)
        values.update(model_update or {})
        return values

    def _keep_ovo(self, ovo: Any, updates: dict, *also: 'Resource') -> None:
        """Keep the OVO a create ran with as this resource's live Cinder object, brought up
        to the record just written (cinderlib's way: its delete reuses it instead of a new build).

        Kept only when what the driver reported or set on it are DRIVER_FIELDS, which are set
        on it as a build from the record sets them; ``also``: the other resources whose records
        it shows (a snapshot's volume), checked again when it is used (see _kept_ovo).
        """
        self._kept = None
        if not (updates.keys() <= self.DRIVER_FIELDS and ovo._changed_fields <= self.DRIVER_FIELDS):
            return
        for key, value in updates.items():
            setattr(ovo, key, value)
        _cinder.refresh_in_place(ovo, self._rec)
        self._kept = (self._shape, *((obj, obj._shape) for obj in also), ovo)

    def _kept_ovo(self, *also: 'Resource', keep: bool = False) -> Any:
        """The kept OVO (once: it goes to a delete; with keep=True it stays kept, lent to a
        snapshot's create as its .volume) while neither its record nor those of ``also`` (the
        very objects it was kept with) changed since in what it shows (their _shape: every
        change of a record but in status, updated_at and error counts one), brought up to
        their status and updated_at in place; else None (the caller builds one). Its metadata is
        compared too (a driver may have changed that dict in place), and its change set must be
        empty as keeping left it: a driver that set a field on it while it was lent makes it
        unusable."""
        kept = self._kept
        if not keep:
            self._kept = None
        if kept is None or len(kept) != len(also) + 2 or kept[0] != self._shape:
            return None
        ovo = kept[-1]
        for (obj, shape), now_obj in zip(kept[1:-1], also):
            if obj is not now_obj or obj._shape != shape:
                return None
        if not _cinder.unchanged_since_kept(ovo, self._rec.get('metadata') or {}):
            self._kept = None
            return None
        _cinder.refresh_in_place(ovo, self._rec)
        return ovo

    def _finish(self, driver_values: dict, **values: Any) -> None:
        """Record an operation's outcome: plain values plus the driver's, on the fresh record."""
        self._update(lambda rec: {**(self._merge_driver_values(driver_values, rec) if driver_values else {}),
                                  **values})

    def _absorb(self, ovo: Any, model_update: dict | None) -> None:
        updates = self._driver_updates(ovo, model_update)
        if updates:
            self._finish(updates)

    def apply_driver_update(self, values: dict) -> None:
        """Merge what a driver reported (model update or OVO save) into the record."""
        self._finish(dict(values))

    def _merge_driver_values(self, values: dict, rec: dict) -> dict:
        driver_data = dict(rec.get('driver_data') or {})
        updates: dict[str, Any] = {}
        for key, value in values.items():
            if key in self.METADATA_FIELDS:
                updates[key] = dict(value or {})
            elif key in self.DRIVER_FIELDS:
                driver_data[key] = value
        updates['driver_data'] = driver_data
        return updates

    def _require_not_deleted(self, operation: str) -> None:
        if self.status == 'deleted':
            raise InvalidState(self.KIND, self.id, 'deleted', operation)

    # ------------------------------------------------------------- repr
    def _summary(self) -> dict:
        pub = self.public_record()
        return {k: pub.get(k) for k in self.SUMMARY}

    def __repr__(self) -> str:
        fields = ', '.join(f'{k}={v!r}' for k, v in self._summary().items() if k != 'id')
        return f'<cinder_nb.{type(self).__name__} {self.id} {fields}>'

    def _repr_html_(self) -> str:
        rows = ''.join(f'<tr><th style="text-align:left">{html.escape(k)}</th>'
                       f'<td style="text-align:left">{html.escape(str(v))}</td></tr>'
                       for k, v in self._summary().items())
        return (f'<table class="cinder-nb-{self.KIND}"><caption style="text-align:left">'
                f'<b>{type(self).__name__}</b></caption>{rows}</table>')

    # ------------------------------------------------------------- serialization
    def to_dict(self) -> dict:
        """The public (redacted) record."""
        return self.public_record()

    def dumps(self) -> str:
        """This resource (and what hangs from it) as versioned JSON, secrets redacted."""
        return serialization.dumps_resource(self)

    @classmethod
    def load(cls, text: str | bytes | dict, save: bool = False, secrets: dict | None = None) -> Self:
        """Load a document written by .dumps() (with its backend and volume); returns this resource."""
        return serialization.load_one(cls.KIND, text, save=save, secrets=secrets)


class NamedResource(Resource):
    """Base of Volume and Snapshot: a resource with a name and a description (neither unique)."""

    name = field('name')
    display_name = name
    description = field('description')

    @classmethod
    def get_by_name(cls, name: str) -> list:
        """Every resource of this kind with that name (names need not be unique), oldest first."""
        _validation.text('name', name, allow_none=False)
        return [obj for obj in _runtime.get().find(cls.KIND) if obj.name == name]


__all__ = ['Resource', 'NamedResource', 'now', 'new_id', 'REDACTED']
