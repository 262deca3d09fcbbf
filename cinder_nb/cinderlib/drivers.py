"""cinderlib's ``list_supported_drivers(output_version)`` formats over cinder_nb's catalog."""
from __future__ import annotations

import inspect
from typing import Any

from cinder_nb import _catalog, _cinder
from cinder_nb.errors import InvalidArgument


def _public_vars(obj: Any) -> dict:
    return {k: v for k, v in vars(obj).items() if not k.startswith('_')}


def _option(opt: Any, output_version: int) -> dict:
    """An oslo.config option as cinderlib reported it (v1: every value a string; v2: typed,
    with 'type' the type's attributes plus 'type_class', the oslo.config type object).
    The default of a secret option is never reported."""
    values = _public_vars(opt)
    if opt.secret:
        values['default'] = None
    if output_version == 1:
        return {k: str(v) for k, v in values.items()}
    values['type'] = dict(_public_vars(opt.type), type_class=opt.type)
    return values


def list_supported_drivers(output_version: int = 1) -> dict[str, dict]:
    """Every Cinder volume driver plus cinder_nb's, keyed by class name, in cinderlib's format.

    Each value has ``class_name``, ``class_fqn``, ``version``, ``supported``,
    ``ci_wiki_name``, ``desc`` and ``driver_options`` (see _option for the two formats).
    """
    if output_version not in (1, 2) or isinstance(output_version, bool):
        raise InvalidArgument('output_version', output_version, '1 or 2')
    result: dict[str, dict] = {}
    for cls in _cinder.registered_volume_drivers():
        if cls.__name__ in result:
            continue
        result[cls.__name__] = {
            'class_name': cls.__name__,
            'class_fqn': f'{inspect.getmodule(cls).__name__}.{cls.__name__}',
            'version': getattr(cls, 'VERSION', None),
            'supported': bool(getattr(cls, 'SUPPORTED', True)),
            'ci_wiki_name': getattr(cls, 'CI_WIKI_NAME', None),
            'desc': inspect.cleandoc(cls.__doc__ or ''),
            'driver_options': [_option(o, output_version) for o in _catalog.driver_opts(cls)],
        }
    return dict(sorted(result.items()))
