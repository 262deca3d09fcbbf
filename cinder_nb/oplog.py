"""An in-process record of the operations this session ran (for "what took long?").

Public operations of Backend, Volume, Snapshot and Connection are wrapped with
``@operation('volume.extend')``; each call appends one dict to a bounded list when it
ends: what ran, on which resource and backend, when, how long, and whether it failed
(with the typed error's message, secrets scrubbed). Nested calls (copy_to attaches and
creates) name their enclosing call in ``parent``. Nothing here is persisted.
"""
from __future__ import annotations

import functools
import itertools
import logging
import threading
import weakref
import time
from collections import deque
from datetime import datetime, timezone
from typing import Any, Callable, TypeVar

from cinder_nb._secrets import SCRUBBER

MAX_RECORDS = 10_000
_records: 'deque[tuple]' = deque(maxlen=MAX_RECORDS)
_seq = itertools.count(1)
_lock = threading.Lock()
#: per thread: (its stack of running operations' seqs, its Thread), made at its first operation
_local = threading.local()
_listeners: 'weakref.WeakSet[Any]' = weakref.WeakSet()
#: whether anyone ever subscribed (until then no operation asks the WeakSet, a Python-level len)
_listening = False
LOG = logging.getLogger('cinder_nb')

F = TypeVar('F', bound=Callable[..., Any])


def _backend_of(obj: Any) -> str | None:
    rec = getattr(obj, '_rec', None)
    if isinstance(rec, dict):
        return rec.get('backend')
    return getattr(obj, '_name', None)


def operation(name: str) -> Callable[[F], F]:
    """Decorate a public method so each call is recorded under name (e.g. 'volume.extend')."""
    kind = name.split('.', 1)[0]

    def wrap(func: F) -> F:
        @functools.wraps(func)
        def run(self: Any, *args: Any, **kwargs: Any) -> Any:
            seq = next(_seq)
            try:
                stack, thread = _local.state
            except AttributeError:
                stack, thread = _local.state = ([], threading.current_thread())
            parent = stack[-1] if stack else None
            stack.append(seq)
            started, t0 = time.time(), time.perf_counter()
            if _listening and _listeners:      # the record of a start is made only for someone to tell
                _notify('operation_started', {'seq': seq, 'operation': name, 'kind': kind,
                                              'resource_id': _rec_id(self), 'backend': _backend_of(self),
                                              'started_at': _utc(started), 'parent': parent,
                                              'thread': thread.name})
            error: BaseException | None = None
            result = None
            try:
                result = func(self, *args, **kwargs)
                return result
            except BaseException as exc:
                error = exc
                raise
            finally:
                stack.pop()
                # kept as a tuple (records() makes the dicts): every operation appends one
                row = (seq, name, kind, _rec_id(self), _rec_id(result), _backend_of(self), started,
                       time.perf_counter() - t0, None if error is None else _error_text(error), parent,
                       thread.name)
                _records.append(row)
                if _listening and _listeners:
                    _notify('operation_ended', _as_record(row))
        return run  # type: ignore[return-value]
    return wrap


def _notify(event: str, rec: dict) -> None:
    """Call listener.<event>(copy of rec) on each listener that has that method."""
    with _lock:
        listeners = list(_listeners)
    for listener in listeners:
        method = getattr(listener, event, None)
        if method is None:
            continue
        try:
            method(dict(rec))
        except Exception:   # a display must never break an operation
            LOG.debug('operation listener %r failed', listener, exc_info=True)


def _rec_id(obj: Any) -> str | None:
    rec = getattr(obj, '_rec', None)
    if isinstance(rec, dict):
        return rec.get('id')
    name = getattr(obj, '_name', None)
    return name if isinstance(name, str) else None


def _error_text(exc: BaseException) -> str:
    text = getattr(exc, 'message', None) or str(exc) or type(exc).__name__
    return SCRUBBER.scrub(f'{type(exc).__name__}: {text}')


def _utc(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, timezone.utc)


def _as_record(row: tuple) -> dict:
    """The dict of one recorded row (see operation)."""
    seq, name, kind, resource_id, result_id, backend, started, duration, error, parent, thread = row
    return {'seq': seq, 'operation': name, 'kind': kind, 'resource_id': resource_id, 'result_id': result_id,
            'backend': backend, 'started_at': _utc(started), 'duration_s': duration, 'ok': error is None,
            'error': error, 'parent': parent, 'thread': thread}


def records() -> list[dict]:
    """The recorded operations (new dicts), in the order they started."""
    with _lock:
        rows = list(_records)
    return [_as_record(r) for r in sorted(rows)]


def subscribe(listener: Any) -> None:
    """Call ``listener.operation_started(record)`` / ``listener.operation_ended(record)`` (where the
    listener has them) around each operation, in the thread that runs it.

    Held weakly: a listener that is garbage collected drops out by itself.
    """
    global _listening
    with _lock:
        _listeners.add(listener)
        _listening = True


def unsubscribe(listener: Any) -> None:
    global _listening
    with _lock:
        _listeners.discard(listener)
        _listening = len(_listeners) > 0


def clear() -> None:
    """Forget the recorded operations."""
    with _lock:
        _records.clear()
