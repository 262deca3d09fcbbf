"""Bulk operations: many driver calls at once through a bounded thread pool.

    res = lab.create_volumes(30, 1, name='student')   # student-01 .. student-30
    res.succeeded                                      # the Volumes made, in request order
    res.failed                                         # BulkItem(index, target, error) for each failure
    lab.create_snapshots(res.succeeded); lab.delete_volumes(res.succeeded)

Each item runs the ordinary single operation (``Backend.create_volume``,
``Volume.create_snapshot``, ``Volume.delete``, ``Snapshot.delete``) in a worker thread, so
validation, state checks, recorded statuses and typed errors are exactly those of one call.
A failing item is reported in the result and never stops the others. Arguments common to
every item are checked before any driver is touched. ``progress(done, total, item)`` is
called in the caller's thread as items finish; an exception it raises (or a set ``cancel``
Event) stops items that have not started: they are reported as failed with ``Cancelled``,
running ones finish and are recorded. KeyboardInterrupt does the same, then propagates.
"""
from __future__ import annotations

import dataclasses
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any, Callable, Sequence

from cinder_nb.errors import BulkError, Cancelled, CinderNBError, InvalidArgument

#: default and largest size of the worker pool of one bulk call
DEFAULT_WORKERS = 8
MAX_WORKERS = 64
#: largest number of items one bulk call accepts
MAX_ITEMS = 100_000


@dataclasses.dataclass(frozen=True)
class BulkItem:
    """One item of a bulk operation: what it was asked to do and how it ended."""

    index: int                  #: position in the request (0-based)
    target: str                 #: the new volume's name, or the id of the resource acted on
    result: Any = None          #: the Volume/Snapshot made (or deleted); None on failure
    error: Exception | None = None   #: a typed cinder_nb error when the item failed
    seconds: float = 0.0        #: how long the item's operation ran

    @property
    def ok(self) -> bool:
        return self.error is None


class BulkResult:
    """What a bulk call did: every item in request order, successes and typed failures."""

    def __init__(self, operation: str, items: list[BulkItem], workers: int, seconds: float) -> None:
        self.operation = operation
        self.items = items
        self.workers = workers
        self.seconds = seconds

    @property
    def succeeded(self) -> list:
        """The resources of the items that succeeded, in request order."""
        return [i.result for i in self.items if i.ok]

    @property
    def failed(self) -> list[BulkItem]:
        """The items that failed (each with its typed error), in request order."""
        return [i for i in self.items if not i.ok]

    @property
    def ok(self) -> bool:
        return all(i.ok for i in self.items)

    def raise_on_failure(self) -> 'BulkResult':
        """Return self when every item succeeded, else raise BulkError (which holds this result)."""
        if not self.ok:
            raise BulkError(self)
        return self

    def __len__(self) -> int:
        return len(self.items)

    def __repr__(self) -> str:
        failed = self.failed
        kinds = sorted({type(i.error).__name__ for i in failed})
        return (f'<cinder_nb.BulkResult {self.operation}: {len(self.items) - len(failed)} ok, '
                f'{len(failed)} failed{" (" + ", ".join(kinds) + ")" if kinds else ""} '
                f'in {self.seconds:.2f} s with {self.workers} workers>')


def check_workers(workers: Any) -> int:
    if isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= MAX_WORKERS:
        raise InvalidArgument('workers', workers, f'an integer from 1 to {MAX_WORKERS}')
    return workers


def check_count(count: Any) -> int:
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_ITEMS:
        raise InvalidArgument('count', count, f'an integer from 1 to {MAX_ITEMS}')
    return count


def check_callbacks(progress: Any, cancel: Any) -> None:
    if progress is not None and not callable(progress):
        raise InvalidArgument('progress', progress, 'None or a callable(done, total, item)')
    if cancel is not None and not isinstance(cancel, threading.Event):
        raise InvalidArgument('cancel', cancel, 'None or a threading.Event')


def numbered_names(prefix: str, count: int, first: int = 1) -> list[str]:
    """prefix-01 .. prefix-30: numbers zero-padded to one width so the names sort in order."""
    width = len(str(first + count - 1))
    return [f'{prefix}-{n:0{width}d}' for n in range(first, first + count)]


def run(operation: str, targets: Sequence[str], call: Callable[[int], Any], workers: int,
        progress: Callable[[int, int, BulkItem], Any] | None = None,
        cancel: threading.Event | None = None) -> BulkResult:
    """Run call(index) for every target on a pool of at most `workers` threads.

    Arguments must already be checked; call() raises typed errors for its item only.
    """
    total = len(targets)
    items: list[BulkItem | None] = [None] * total
    stop = threading.Event()      # set when the caller stops the run: items not started skip

    def one(index: int) -> BulkItem:
        if stop.is_set() or (cancel is not None and cancel.is_set()):
            return BulkItem(index, targets[index], error=_cancelled(operation, targets[index]))
        t0 = time.perf_counter()
        try:
            result = call(index)
        except Exception as exc:    # typed cinder_nb errors; anything else is kept as raised
            return BulkItem(index, targets[index], error=exc, seconds=time.perf_counter() - t0)
        return BulkItem(index, targets[index], result=result, seconds=time.perf_counter() - t0)

    started = time.perf_counter()
    interrupted: BaseException | None = None
    pool = ThreadPoolExecutor(max_workers=max(1, min(workers, total)),
                              thread_name_prefix=f'cinder_nb-{operation}')
    futures: dict[Future, int] = {}
    try:
        futures = {pool.submit(one, i): i for i in range(total)}
        pending = set(futures)
        done_count = 0
        while pending:
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fut in sorted(finished, key=futures.__getitem__):
                item = fut.result()
                items[item.index] = item
                done_count += 1
                if progress is not None:
                    progress(done_count, total, item)
    except BaseException as exc:    # progress raised, or KeyboardInterrupt: stop what has not started
        interrupted = exc
        stop.set()
        for fut in futures:
            fut.cancel()
    finally:
        pool.shutdown(wait=True)    # running items finish and are recorded: nothing half-done is lost
    for fut, index in futures.items():
        if items[index] is None:
            items[index] = (fut.result() if fut.done() and not fut.cancelled() else
                            BulkItem(index, targets[index], error=_cancelled(operation, targets[index])))
    for index in range(total):      # submit() itself was interrupted
        if items[index] is None:
            items[index] = BulkItem(index, targets[index], error=_cancelled(operation, targets[index]))
    result = BulkResult(operation, items, workers, time.perf_counter() - started)  # type: ignore[arg-type]
    if interrupted is not None and not isinstance(interrupted, CinderNBError):
        raise interrupted
    return result


def _cancelled(operation: str, target: str) -> Cancelled:
    return Cancelled(f'{operation} of {target}: not started, the bulk operation was cancelled.')
