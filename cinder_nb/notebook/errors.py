"""The notebook layer's errors, in the cinder_nb.errors tree (the core never imports them)::

    CinderNBError
    └── InvalidArgument (also ValueError)
        ├── FieldError      a form field holds what cannot be used; nothing was changed
        └── NoTarget        an operation needs a picked resource and none is picked
"""
from __future__ import annotations

from typing import Any

from cinder_nb.errors import CinderNBError, InvalidArgument


class FieldError(InvalidArgument):
    """What was typed in a form field cannot be used; nothing was changed. ``argument``: the field."""

    def __init__(self, field: str, value: Any, message: str) -> None:
        CinderNBError.__init__(self, message, argument=field, value=value)
        self.argument, self.value = field, value


class NoTarget(InvalidArgument):
    """The operation needs a picked resource and none is picked."""

    def __init__(self, kind: str) -> None:
        CinderNBError.__init__(self, f'No {kind} is picked: click its row in the {kind.capitalize()}s table '
                               f'below, or type its name in "target {kind}".', argument=f'target {kind}', value=None)
        self.argument, self.value = f'target {kind}', None


__all__ = ['FieldError', 'NoTarget']
