"""Typed errors: each says what was wrong, with which value, and what to do."""
from __future__ import annotations


class CinderNBError(Exception):
    """Base class of every error cinder_nb raises on purpose."""

    def __init__(self, message: str, **details):
        super().__init__(message)
        self.message = message
        self.details = details

    def __str__(self) -> str:
        return self.message


class InvalidArgument(CinderNBError, ValueError):
    """An argument has the wrong type or value; nothing was changed."""

    def __init__(self, name: str, value, expected: str):
        super().__init__(f'{name}={value!r} is invalid: expected {expected}.',
                         argument=name, value=value)
        self.argument = name
        self.value = value


class NotFound(CinderNBError, LookupError):
    """A resource, backend or driver does not exist."""

    def __init__(self, kind: str, ident, hint: str = ''):
        super().__init__(f'{kind} {ident!r} not found.' + (f' {hint}' if hint else ''),
                         kind=kind, id=ident)
        self.kind = kind
        self.id = ident


class InvalidState(CinderNBError):
    """The resource's status or relations do not allow the operation."""

    def __init__(self, kind: str, ident, status: str, operation: str, hint: str = ''):
        super().__init__(f'Cannot {operation} {kind} {ident}: it is {status}.' + (f' {hint}' if hint else ''),
                         kind=kind, id=ident, status=status, operation=operation)
        self.kind, self.id, self.status, self.operation = kind, ident, status, operation


class BackendConfigError(CinderNBError):
    """A backend's driver or options are wrong, or the driver failed to start."""

    def __init__(self, message: str, option: str | None = None, **details):
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
    """The driver raised during an operation; the resource records the message."""

    def __init__(self, operation: str, kind: str, ident, cause: BaseException):
        from cinder_nb.secrets import SCRUBBER   # a driver's message may quote a password
        msg = SCRUBBER.scrub(_exc_text(cause))
        super().__init__(f'Driver failed to {operation} {kind} {ident}: {type(cause).__name__}: {msg}',
                         operation=operation, kind=kind, id=ident)
        self.operation, self.kind, self.id, self.cause = operation, kind, ident, cause
        self.__cause__ = cause


class StateError(CinderNBError):
    """A serialized state cannot be loaded (bad JSON, schema, references or version)."""


class PersistenceError(CinderNBError):
    """The persistence back-end failed or is misconfigured."""


def _exc_text(exc: BaseException) -> str:
    text = getattr(exc, 'msg', None) or str(exc)
    return text.strip() or repr(exc)


class ToolError(CinderNBError):
    """An external tool (fio, ...) is missing or failed; the message quotes what it said."""

    def __init__(self, tool: str, message: str, returncode: int | None = None, output: str = ''):
        from cinder_nb.secrets import SCRUBBER
        output = SCRUBBER.scrub(output.strip())[-2000:]
        super().__init__(f'{tool}: {message}' + (f'\n{output}' if output else ''),
                         tool=tool, returncode=returncode)
        self.tool, self.returncode, self.output = tool, returncode, output


class Cancelled(CinderNBError):
    """A long operation was cancelled by its caller; what it cleaned up is said in the message."""
