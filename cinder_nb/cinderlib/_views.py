"""One cinderlib-style view per cinder_nb object, and the read-only ``_ovo`` view.

A view holds the cinder_nb object (``_core``) and nothing else: every value is read
from it, every operation is its operation. Views are cached on the object, so the
same volume always gives the same view (``vol.local_attach is conn`` holds, as in
cinderlib). Names a view does not define are looked up on the cinder_nb object,
then on a fresh Cinder OVO of the resource (cinderlib exposed every OVO field).
"""
from __future__ import annotations

from typing import Any, Callable

from cinder_nb import _runtime
from cinder_nb.errors import InvalidArgument

_VIEW_ATTR = '_cinderlib_view'
#: cinder_nb class -> view class (filled by register())
_CLASSES: dict[type, type] = {}


def register(core_cls: type) -> Callable[[type], type]:
    """Class decorator: the view class for instances of core_cls."""
    def deco(view_cls: type) -> type:
        _CLASSES[core_cls] = view_cls
        return view_cls
    return deco


def wrap(obj: Any) -> Any:
    """The view of a cinder_nb object (None stays None; a view is returned as it is)."""
    if obj is None or isinstance(obj, View):
        return obj
    view = obj.__dict__.get(_VIEW_ATTR)
    if view is None:
        for cls in type(obj).__mro__:
            if cls in _CLASSES:
                break
        else:
            raise TypeError(f'no cinderlib view for {type(obj).__name__}')
        view = object.__new__(_CLASSES[cls])
        object.__setattr__(view, '_core', obj)
        obj.__dict__[_VIEW_ATTR] = view
    return view


def wrap_all(objs) -> list:
    return [wrap(o) for o in objs]


def unwrap(obj: Any) -> Any:
    """The cinder_nb object behind a view (anything else is returned unchanged)."""
    return obj._core if isinstance(obj, View) else obj


class View:
    """Base of the cinderlib views."""

    _core: Any

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError(f'cinder_nb.cinderlib.{type(self).__name__} objects come from operations '
                        '(Backend.create_volume, Volume.create_snapshot, Volume.connect, ...) '
                        'and lookups (get_by_id, persistence.get_volumes); they are not built directly.')

    def _ovo_object(self) -> Any:
        """A fresh Cinder OVO of the resource (for cinderlib's OVO field fall-back)."""
        raise AttributeError('_ovo')

    def __getattr__(self, name: str) -> Any:
        if name.startswith('__') or name == '_core':
            raise AttributeError(name)
        try:
            return getattr(self._core, name)
        except AttributeError:
            pass
        return self._fallback(name)

    def _fallback(self, name: str) -> Any:
        """Where a name the cinder_nb object lacks is looked up: the Cinder OVO (cinderlib's fields)."""
        if name.startswith('_'):
            raise AttributeError(name)
        return getattr(self._ovo_object(), name)

    def __repr__(self) -> str:
        return (f'<cinderlib.{type(self).__name__} object {self._core.id} on backend '
                f'{self._core.backend_name}>')

    def _repr_html_(self) -> str:
        return self._core._repr_html_()


class OvoView:
    """What ``obj._ovo`` gives: reads come from a fresh Cinder OVO of the resource.

    Writes are limited to what cinderlib's own tests and recovery code do: setting
    ``status`` (like 'cinder reset-state': one of the resource's statuses) and
    ``deleted = False`` on a deleted resource (its record comes back with status
    'error', so delete() can run again). Other fields change only through operations.
    """

    def __init__(self, view: View, statuses: tuple[str, ...]) -> None:
        object.__setattr__(self, '_view', view)
        object.__setattr__(self, '_statuses', statuses)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._view._ovo_object(), name)

    def __setattr__(self, name: str, value: Any) -> None:
        core = self._view._core
        if name == 'status':
            if value not in self._statuses:
                raise InvalidArgument('_ovo.status', value, f'one of {", ".join(self._statuses)}')
            _force_status(core, value)
        elif name == 'deleted':
            if value is not False:
                raise InvalidArgument('_ovo.deleted', value, 'False (delete a resource with delete())')
            if core.status == 'deleted':
                _force_status(core, 'error')
        else:
            raise InvalidArgument(f'_ovo.{name}', value, "a write of 'status' or 'deleted' only: other "
                                  'fields change through operations (extend, connect, ...)')

    def __repr__(self) -> str:
        return repr(self._view._ovo_object())


def _force_status(core: Any, status: str) -> None:
    """Set the recorded status; a deleted resource's record is only changed here (the next
    operation writes it back, as cinderlib's next save() did)."""
    if core.status == 'deleted':
        core.record['status'] = status
        _runtime.get().register(core, saved=False)   # held here until its next write stores it again
    else:
        core._set(status=status)
