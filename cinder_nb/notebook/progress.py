"""Progress bars for long operations: a widget in Jupyter, text in a terminal (tqdm.auto).

    from cinder_nb.notebook import copy_to
    copy = copy_to(vol, other_backend)        # bytes copied, rate and ETA while it runs

The core reports progress through plain callbacks (``Volume.copy_to(progress=...)``);
this module turns them into tqdm bars. ``progress=False`` anywhere turns the bar off.
"""
from __future__ import annotations

import threading
from typing import Any

from cinder_nb.errors import Cancelled


def bar(total: float | None, desc: str, unit: str = 'B', enabled: bool = True, **kwargs: Any):
    """A tqdm bar (tqdm.auto: ipywidgets in Jupyter, text elsewhere); a no-op bar when disabled."""
    from tqdm.auto import tqdm
    if unit == 'B':
        kwargs.setdefault('unit_scale', True)
        kwargs.setdefault('unit_divisor', 1024)
    return tqdm(total=total, desc=desc, unit=unit, disable=not enabled, leave=True, dynamic_ncols=True,
                **kwargs)


class ByteProgress:
    """A callback ``(done_bytes, total_bytes)`` that moves a bar; raises Cancelled once cancel is set.

    Use it as the ``progress`` argument of core calls that copy data.
    """

    def __init__(self, desc: str, enabled: bool = True, cancel: threading.Event | None = None) -> None:
        self.desc, self.enabled, self.cancel = desc, enabled, cancel
        self.bar: Any = None
        self.done = 0

    def __call__(self, done: int, total: int) -> None:
        if self.cancel is not None and self.cancel.is_set():
            raise Cancelled(f'{self.desc}: cancelled after {self.done} of {total} bytes.')
        if self.bar is None:
            self.bar = bar(total, self.desc, enabled=self.enabled)
        self.bar.update(done - self.done)
        self.done = done

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

    def __enter__(self) -> 'ByteProgress':
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def copy_to(volume: Any, backend: Any, progress: bool = True, cancel: threading.Event | None = None,
            **kwargs: Any) -> Any:
    """``volume.copy_to(backend, **kwargs)`` with a progress bar (bytes, rate, ETA).

    Cancel with the notebook's stop button (KeyboardInterrupt) or by setting ``cancel``
    (then Cancelled is raised); either way both volumes are detached and the new volume
    stays recorded with status 'error'.
    """
    with ByteProgress(f'copy {volume.name or volume.id} -> {getattr(backend, "name", backend)}',
                      enabled=progress, cancel=cancel) as cb:
        return volume.copy_to(backend, progress=cb, **kwargs)


class ItemProgress:
    """A callback ``(done, total, item)`` for bulk operations: a bar counting items, with the
    failures so far in its postfix; raises Cancelled once cancel is set (items not started skip)."""

    def __init__(self, desc: str, enabled: bool = True, cancel: threading.Event | None = None) -> None:
        self.desc, self.enabled, self.cancel = desc, enabled, cancel
        self.bar: Any = None
        self.failed = 0

    def __call__(self, done: int, total: int, item: Any) -> None:
        if self.bar is None:
            self.bar = bar(total, self.desc, unit='item', enabled=self.enabled)
        if not item.ok:
            self.failed += 1
            self.bar.set_postfix(failed=self.failed, refresh=False)
        self.bar.update(1)
        if self.cancel is not None and self.cancel.is_set():
            raise Cancelled(f'{self.desc}: cancelled after {done} of {total} items.')

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

    def __enter__(self) -> 'ItemProgress':
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def create_volumes(backend: Any, count: int, size: int, progress: bool = True,
                   cancel: threading.Event | None = None, **kwargs: Any) -> Any:
    """``backend.create_volumes(count, size, **kwargs)`` with a progress bar; returns its BulkResult."""
    with ItemProgress(f'create {count} volumes on {backend.name}', progress, cancel) as cb:
        return backend.create_volumes(count, size, progress=cb, cancel=cancel, **kwargs)


def create_snapshots(volumes: list, progress: bool = True, cancel: threading.Event | None = None,
                     **kwargs: Any) -> Any:
    """Snapshot these volumes (all on one backend) concurrently, with a progress bar."""
    backend = _one_backend(volumes)
    with ItemProgress(f'snapshot {len(volumes)} volumes', progress, cancel) as cb:
        return backend.create_snapshots(volumes, progress=cb, cancel=cancel, **kwargs)


def delete_volumes(volumes: list, progress: bool = True, cancel: threading.Event | None = None,
                   **kwargs: Any) -> Any:
    """Delete these volumes (all on one backend) concurrently, with a progress bar."""
    backend = _one_backend(volumes)
    with ItemProgress(f'delete {len(volumes)} volumes', progress, cancel) as cb:
        return backend.delete_volumes(volumes, progress=cb, cancel=cancel, **kwargs)


def delete_snapshots(snapshots: list, progress: bool = True, cancel: threading.Event | None = None,
                     **kwargs: Any) -> Any:
    """Delete these snapshots (all on one backend) concurrently, with a progress bar."""
    backend = _one_backend(snapshots)
    with ItemProgress(f'delete {len(snapshots)} snapshots', progress, cancel) as cb:
        return backend.delete_snapshots(snapshots, progress=cb, cancel=cancel, **kwargs)


def _one_backend(resources: list) -> Any:
    from cinder_nb.errors import InvalidArgument
    names = {getattr(r, 'backend_name', None) for r in resources}
    if len(names) != 1 or None in names:
        raise InvalidArgument('resources', f'{len(resources)} items on {sorted(map(str, names))}',
                              'a non-empty list of volume/snapshot objects of one backend')
    return resources[0].backend


class SlowOperations:
    """Shows a progress bar (elapsed time) for every top-level operation still running after
    ``after`` seconds: a driver call that takes long is visible while it runs.

    Listens to cinder_nb.oplog; ``stop()`` ends it. Use show_slow_operations().
    """

    def __init__(self, after: float = 1.0, tick: float = 0.5) -> None:
        self.after, self.tick = after, tick
        self._running: dict[int, threading.Event] = {}
        self._lock = threading.Lock()
        self.shown: list[str] = []        # descriptions of the bars shown, for scripts and tests

    def operation_started(self, rec: dict) -> None:
        if rec.get('parent') is not None:
            return
        done = threading.Event()
        with self._lock:
            self._running[rec['seq']] = done
        what = f"{rec['operation']} {str(rec.get('resource_id') or '')[:8]} on {rec.get('backend') or '-'}"
        threading.Thread(target=self._watch, args=(what, done), daemon=True,
                         name=f"cinder_nb-slow-{rec['seq']}").start()

    def operation_ended(self, rec: dict) -> None:
        with self._lock:
            done = self._running.pop(rec['seq'], None)
        if done is not None:
            done.set()

    def _watch(self, what: str, done: threading.Event) -> None:
        if done.wait(self.after):
            return
        self.shown.append(what)
        pbar = bar(None, what, unit='s', bar_format='{desc}: running {elapsed}')
        pbar.start_t -= self.after          # the elapsed time counts from the operation's start
        try:
            while not done.wait(self.tick):
                pbar.refresh()
        finally:
            pbar.close()

    def stop(self) -> None:
        from cinder_nb import oplog
        oplog.unsubscribe(self)
        with self._lock:
            for done in self._running.values():
                done.set()
            self._running.clear()


_slow: SlowOperations | None = None


def show_slow_operations(after: float = 1.0) -> SlowOperations:
    """From now on, show a running-time bar for any operation that runs longer than ``after`` s
    (a widget in Jupyter, text in a terminal). Returns the watcher; ``.stop()`` turns it off."""
    from cinder_nb import oplog
    global _slow
    if _slow is not None:
        _slow.stop()
    _slow = SlowOperations(after)
    oplog.subscribe(_slow)
    return _slow
