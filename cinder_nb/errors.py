"""Typed errors: each says what was wrong, with which value, and what to do.

No error cinder_nb raises carries a secret: values shown in messages go through a
masking, truncating repr (secret-looking keys become ``***``, long values are cut),
every message passes the secret scrubber, and a driver's exception is summarised
(scrubbed) instead of being chained: the code raises it after the ``except`` block
that caught the driver's exception, so ``__cause__`` and ``__context__`` stay empty
(``raise ... from exc`` would keep it, ``from None`` only hides it).

The tree (tests/core/test_errors.py checks it against the classes)::

    CinderNBError
    ├── InvalidArgument (also ValueError)
    ├── NotFound (also LookupError)
    ├── InvalidState
    │   ├── InsufficientCapacity
    │   └── Conflict
    ├── BackendConfigError
    │   └── MissingSecret
    ├── DriverError
    ├── AttachUnavailable
    ├── StateError
    ├── PersistenceError
    ├── ToolError
    ├── Cancelled
    └── BulkError

The cinderlib and notebook layers subclass these in their own modules
(cinder_nb.cinderlib.exception, cinder_nb.notebook.operations).
"""
from __future__ import annotations

import reprlib
from typing import Any

from cinder_nb._secrets import REDACTED, SCRUBBER, is_secret_key

#: longest argument name / value text an error message shows
MAX_NAME_SHOWN = 80
MAX_VALUE_SHOWN = 200


class _MaskedRepr(reprlib.Repr):
    """repr() that masks the values of secret-looking dict keys and cuts long or deep values."""

    def __init__(self) -> None:
        super().__init__()
        self.maxlevel, self.maxdict, self.maxlist, self.maxtuple = 4, 16, 16, 16
        self.maxstring, self.maxother, self.maxlong = 120, 120, 60

    def repr_dict(self, x: Any, level: int) -> str:
        masked = {k: (REDACTED if isinstance(k, str) and is_secret_key(k) and v not in (None, '') else v)
                  for k, v in x.items()}
        return super().repr_dict(masked, level)


_REPR = _MaskedRepr()


def shown(value: Any) -> str:
    """The text an error message shows for value: masked, truncated, scrubbed."""
    try:
        text = _REPR.repr(value)
    except Exception:       # a hostile __repr__
        text = f'<{type(value).__name__}>'
    if len(text) > MAX_VALUE_SHOWN:
        text = text[:MAX_VALUE_SHOWN - 3] + '...'
    return SCRUBBER.scrub(text)


def shown_name(name: Any) -> str:
    text = name if isinstance(name, str) else shown(name)
    return text if len(text) <= MAX_NAME_SHOWN else text[:MAX_NAME_SHOWN - 3] + '...'


class CinderNBError(Exception):
    """Base class of every error cinder_nb raises on purpose."""

    def __init__(self, message: str, **details: Any) -> None:
        message = SCRUBBER.scrub(message)
        super().__init__(message)
        self.message = message
        self.details = details

    def __str__(self) -> str:
        return self.message


class InvalidArgument(CinderNBError, ValueError):
    """An argument has the wrong type or value; nothing was changed."""

    def __init__(self, name: str, value: Any, expected: str) -> None:
        secret = isinstance(name, str) and is_secret_key(name.rsplit('[', 1)[-1].strip("]'\""))
        text = REDACTED if secret else shown(value)
        super().__init__(f'{shown_name(name)}={text} is invalid: expected {expected}.',
                         argument=name, value=text)
        self.argument = name
        #: the value as the message shows it (masked and truncated), not the value itself
        self.value = text


class NotFound(CinderNBError, LookupError):
    """A resource, backend or driver does not exist."""

    def __init__(self, kind: str, ident: Any, hint: str = '') -> None:
        super().__init__(f'{kind} {ident!r} not found.' + (f' {hint}' if hint else ''),
                         kind=kind, id=ident)
        self.kind = kind
        self.id = ident


class InvalidState(CinderNBError):
    """The resource's status or relations do not allow the operation."""

    def __init__(self, kind: str, ident: Any, status: str, operation: str, hint: str = '') -> None:
        super().__init__(f'Cannot {operation} {kind} {ident}: it is {status}.' + (f' {hint}' if hint else ''),
                         kind=kind, id=ident, status=status, operation=operation)
        self.kind, self.id, self.status, self.operation = kind, ident, status, operation


class BackendConfigError(CinderNBError):
    """A backend's driver or options are wrong, or the driver failed to start."""

    def __init__(self, message: str, option: str | None = None, **details: Any) -> None:
        super().__init__(message, option=option, **details)
        self.option = option


class MissingSecret(BackendConfigError):
    """A loaded state needs a secret option that was not given."""

    def __init__(self, backend: str, option: str, env: str):
        super().__init__(f'Backend {backend!r} needs the secret option {option!r}: pass it in '
                         f'secrets={{{backend!r}: {{{option!r}: ...}}}} or set ${env}.',
                         option=option, backend=backend, env=env)
        self.backend = backend
        self.env = env


class DriverError(CinderNBError):
    """The driver raised during an operation; the resource records the message.

    The driver's exception is not chained (its text and arguments may quote a
    password, and Jupyter prints and saves every chained traceback): ``cause_type``
    and the scrubbed ``cause_message`` summarise it. Raise it outside the ``except``
    block that caught the driver's exception, so no ``__context__`` is attached.
    """

    def __init__(self, operation: str, kind: str, ident: Any, cause: BaseException) -> None:
        msg = summary(cause)
        super().__init__(f'Driver failed to {operation} {kind} {ident}: {type(cause).__name__}: {msg}',
                         operation=operation, kind=kind, id=ident)
        self.operation, self.kind, self.id = operation, kind, ident
        self.cause_type = f'{type(cause).__module__}.{type(cause).__qualname__}'
        self.cause_message = msg


class AttachUnavailable(CinderNBError):
    """The attach method asked for cannot work on this host (e.g. krbd without the rbd module)."""

    def __init__(self, method: str, reason: str) -> None:
        super().__init__(f'Cannot attach through {method}: {reason}.', method=method, reason=reason)
        self.method, self.reason = method, reason


class InsufficientCapacity(InvalidState):
    """The backend's pool cannot take the request by Cinder's capacity rules; nothing changed.

    ``factors`` holds the numbers the decision used (requested, total, free, provisioned,
    reserved percentage, over-subscription ratio, virtual free capacity, thin or thick).
    """

    def __init__(self, backend: str, pool: str, operation: str, factors: dict, reason: str):
        self.factors = dict(factors)
        f = self.factors
        kind = 'thin' if f.get('thin') else 'thick'
        numbers = (f"requested {f.get('requested_gb')} GiB; {kind} pool: total {f.get('total_capacity_gb')} GiB, "
                   f"free {f.get('free_capacity_gb')} GiB, provisioned {f.get('provisioned_capacity_gb')} GiB, "
                   f"reserved {f.get('reserved_percentage')}%")
        if f.get('thin'):
            numbers += f", max_over_subscription_ratio {f.get('max_over_subscription_ratio')}"
        if 'virtual_free_capacity_gb' in f:
            numbers += f", virtual free {f['virtual_free_capacity_gb']} GiB"
        CinderNBError.__init__(
            self, f'Cannot {operation} on backend {backend!r} pool {pool!r}: {reason} ({numbers}). '
            'Free space (delete volumes or snapshots), or change reserved_percentage / '
            'max_over_subscription_ratio if the pool really can hold it.',
            backend=backend, pool=pool, operation=operation, **self.factors)
        self.kind, self.id, self.status, self.operation = 'backend', backend, 'full', operation
        self.backend, self.pool = backend, pool


class StateError(CinderNBError):
    """A serialized state cannot be loaded (bad JSON, schema, references or version)."""


class PersistenceError(CinderNBError):
    """The persistence back-end failed or is misconfigured."""


def _exc_text(exc: BaseException) -> str:
    try:
        text = getattr(exc, 'msg', None) or str(exc)
        text = text if isinstance(text, str) else str(text)
        return text.strip() or repr(exc)
    except Exception:
        return f'<{type(exc).__name__}>'


def summary(exc: BaseException, limit: int = 2000) -> str:
    """A foreign exception's text, scrubbed of secrets and cut to limit characters."""
    text = SCRUBBER.scrub(_exc_text(exc))
    return text if len(text) <= limit else text[:limit - 3] + '...'



class ToolError(CinderNBError):
    """An external tool (fio, ...) is missing or failed; the message quotes what it said."""

    def __init__(self, tool: str, message: str, returncode: int | None = None, output: str = ''):
        output = SCRUBBER.scrub(output.strip())[-2000:]
        super().__init__(f'{tool}: {message}' + (f'\n{output}' if output else ''),
                         tool=tool, returncode=returncode)
        self.tool, self.returncode, self.output = tool, returncode, output


class Cancelled(CinderNBError):
    """A long operation was cancelled by its caller; what it cleaned up is said in the message."""


class BulkError(CinderNBError):
    """Some items of a bulk operation failed (``BulkResult.raise_on_failure()``).

    ``.result`` is the whole BulkResult: what succeeded is there too, nothing is lost.
    """

    def __init__(self, result: Any) -> None:
        failed = result.failed
        shown = '; '.join(f'{i.target}: {type(i.error).__name__}: {i.error}' for i in failed[:3])
        more = f' (and {len(failed) - 3} more)' if len(failed) > 3 else ''
        super().__init__(f'{result.operation}: {len(failed)} of {len(result.items)} items failed: '
                         f'{shown}{more}', operation=result.operation, failed=len(failed))
        self.result = result


class Conflict(InvalidState):
    """Another writer kept changing the resource while this one tried to (compare-and-swap lost).

    Like Cinder's conditional_update: the write named the version it read, another
    process or thread wrote first, and retrying on fresh data did not get through.
    ``status`` is the current one. Nothing was written; retry the operation.
    """
