"""Run driver calls in a worker thread and show their progress in a widget.

The kernel never waits for a driver: a button handler submits the call and
returns at once. A ticker thread shows the elapsed time while the call runs; when
it ends, the status shows the outcome, and a failure shows the typed error's
message (no traceback; the traceback goes to the 'cinder_nb.notebook' logger).
"""
from __future__ import annotations

import html
import itertools
import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable

import ipywidgets as widgets

from cinder_nb.errors import CinderNBError

LOG = logging.getLogger('cinder_nb.notebook')
TICK = 0.2
_SPINNER = '◐◓◑◒'


def error_text(exc: BaseException) -> str:
    """What a person should read about a failure: the typed message, never a traceback."""
    if isinstance(exc, CinderNBError):
        return exc.message
    return f'{type(exc).__name__}: {exc}'


def error_html(message: str) -> str:
    return (f'<div class="cinder-nb-error" style="color:#a00;background:#fff0f0;border-left:3px solid #c00;'
            f'padding:2px 8px;white-space:pre-wrap">✖ {html.escape(message)}</div>')


def ok_html(message: str) -> str:
    return f'<div class="cinder-nb-ok" style="color:#060">✔ {html.escape(message)}</div>'


def running_html(message: str, elapsed: float, frame: str) -> str:
    return (f'<div class="cinder-nb-running" style="color:#035">{frame} {html.escape(message)} '
            f'<span class="cinder-nb-elapsed">{elapsed:.1f} s</span></div>')


class Job:
    """One operation: its label, timing and outcome (result or error)."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.started = time.monotonic()
        self.ended: float | None = None
        self.result: Any = None
        self.error: BaseException | None = None
        self.done = threading.Event()
        self.future: Future | None = None
        self.status: widgets.HTML | None = None

    @property
    def elapsed(self) -> float:
        return (self.ended or time.monotonic()) - self.started

    @property
    def ok(self) -> bool:
        return self.done.is_set() and self.error is None

    def wait(self, timeout: float | None = None) -> 'Job':
        """Block until the job and its completion handlers have run (for scripts and tests)."""
        if not self.done.wait(timeout):
            raise TimeoutError(f'{self.label} still running after {timeout} s')
        return self

    def __repr__(self) -> str:
        state = 'running' if not self.done.is_set() else ('ok' if self.error is None else 'failed')
        return f'<Job {self.label!r} {state} {self.elapsed:.2f}s>'


class JobRunner:
    """Runs jobs one after another on a worker thread and reports them in ``status`` (an HTML widget)."""

    def __init__(self, status: widgets.HTML | None = None, name: str = 'cinder_nb-op') -> None:
        self.status = status if status is not None else widgets.HTML()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self.jobs: list[Job] = []
        self._status_lock = threading.Lock()

    @property
    def last(self) -> Job | None:
        return self.jobs[-1] if self.jobs else None

    @property
    def running(self) -> Job | None:
        """The job that has not finished yet (a runner runs one at a time), or None."""
        job = self.last
        return job if job is not None and not job.done.is_set() else None

    def submit(self, label: str, call: Callable[[], Any], on_success: Callable[[Any], Any] | None = None,
               on_error: Callable[[BaseException], Any] | None = None,
               success_text: Callable[[Any], str] | None = None,
               buttons: tuple = (), status: widgets.HTML | None = None,
               on_end: Callable[[], Any] | None = None) -> Job:
        """Start call() in the worker thread; return the Job at once.

        on_success(result) / on_error(exc) run in the worker thread after the call, then
        on_end(); buttons are disabled while the job runs. Progress and outcome go to
        ``status`` (default: the runner's own status widget).
        """
        out = status if status is not None else self.status
        job = Job(label)
        job.status = out
        self.jobs.append(job)
        for b in buttons:
            b.disabled = True

        def run() -> None:
            try:
                job.result = call()
            except BaseException as exc:  # noqa: BLE001 - shown to the user, logged with traceback
                job.error = exc
                LOG.debug('%s failed', label, exc_info=True)
            with self._status_lock:
                job.ended = time.monotonic()
            try:
                if job.error is None:
                    text = success_text(job.result) if success_text else f'{label}: done'
                    out.value = ok_html(f'{text} ({job.elapsed:.2f} s)')
                    if on_success is not None:
                        on_success(job.result)
                else:
                    out.value = error_html(f'{label} failed: {error_text(job.error)}')
                    if on_error is not None:
                        on_error(job.error)
            except Exception as exc:  # a handler bug must not leave the job hanging
                LOG.warning('completion handler of %s failed', label, exc_info=True)
                out.value = error_html(f'{label}: {error_text(exc)}')
            finally:
                try:
                    if on_end is not None:
                        on_end()
                except Exception:  # noqa: BLE001
                    LOG.warning('end handler of %s failed', label, exc_info=True)
                for b in buttons:
                    b.disabled = False
                job.done.set()

        out.value = running_html(label, 0.0, _SPINNER[0])
        job.future = self._executor.submit(run)
        threading.Thread(target=self._tick, args=(job,), daemon=True, name=f'{label}-ticker').start()
        return job

    def _tick(self, job: Job) -> None:
        for frame in itertools.cycle(_SPINNER):
            if job.done.wait(TICK):
                return
            with self._status_lock:
                if job.ended is not None:
                    return
                job.status.value = running_html(job.label, job.elapsed, frame)

    def wait(self, timeout: float | None = 120) -> Job | None:
        """Wait for the last submitted job (returns it, or None if none ran)."""
        job = self.last
        if job is not None:
            job.wait(timeout)
        return job
