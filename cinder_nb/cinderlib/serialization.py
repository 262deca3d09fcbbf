"""cinderlib's ``json/jsons/dump/dumps/load`` over cinder_nb's versioned state documents.

Writing gives cinder_nb's format (versioned, secrets redacted). ``load`` reads both that
and cinderlib 5.2's own format (through cinder_nb.cinderlib.migration).
"""
from __future__ import annotations

import json as json_lib
from typing import Any

from cinder_nb import serialization as _state
from cinder_nb.cinderlib import _views, migration
from cinder_nb.cinderlib.objects import _Resource
from cinder_nb.errors import StateError


def json() -> dict:
    """The whole state as a JSON-able dict (cinder_nb's format, secrets redacted)."""
    return _state.state_dict()


def jsons() -> str:
    """The whole state as a JSON string (cinder_nb's format, secrets redacted)."""
    return _state.dumps()


dump = json
dumps = jsons


def load(json_src: Any, save: bool = False) -> Any:
    """Load a document from dumps()/jsons(): cinder_nb's format gives the list of its
    backends; cinderlib 5.2's format gives what cinderlib gave (a list, or the one object).

    With ``save=True`` the resources are written to the state store as well.
    """
    json_src = _parsed(json_src)
    if migration.is_cinderlib_document(json_src):
        return migration.load_cinderlib_json(json_src, save=save)
    loaded = _state.load(json_src, save=save)
    return _views.wrap_all(loaded['backends'])


def _parsed(json_src: Any) -> Any:
    """A document given as JSON text parsed (StateError if it is not JSON); anything else as it is."""
    if isinstance(json_src, (str, bytes)):
        try:
            return json_lib.loads(json_src)
        except ValueError as exc:
            raise StateError(f'Not JSON: {exc}') from None
    return json_src


def _load_one(json_src: Any, save: bool = False, kind: str | None = None) -> Any:
    json_src = _parsed(json_src)
    if migration.is_cinderlib_document(json_src):
        return migration.load_cinderlib_json(json_src, save=save)
    if kind is None:
        raise StateError('Use Volume.load, Snapshot.load, Connection.load or Backend.load for one '
                         "object of cinder_nb's format, or cinderlib.load for a whole state.")
    return _views.wrap(_state.load_one(kind, json_src, save=save))


_Resource._loader = staticmethod(_load_one)
