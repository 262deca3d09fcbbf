"""The driver catalog: which drivers exist and what options each takes, typed."""
from __future__ import annotations

import difflib
import importlib
import inspect
from dataclasses import asdict, dataclass, field
from typing import Any

from oslo_config import cfg, types

from cinder_nb import _cinder, ceph
from cinder_nb.drivers import localfile  # noqa: F401  (registers the embedded driver with Cinder)
from cinder_nb.errors import BackendConfigError, NotFound, shown, shown_name
from cinder_nb._secrets import REDACTED

EMBEDDED_DRIVER = 'cinder_nb.drivers.localfile.LocalFileDriver'

_TYPE_NAMES = [
    (types.Port, 'port'), (types.Integer, 'integer'), (types.Float, 'float'),
    (types.Boolean, 'boolean'), (types.List, 'list'), (types.Dict, 'dict'),
    (types.IPAddress, 'ip'), (types.HostAddress, 'host'), (types.HostDomain, 'host'),
    (types.URI, 'uri'), (types.MultiString, 'multistring'), (types.String, 'string'),
]


@dataclass
class OptionInfo:
    """One driver option as the catalog and the backend form see it."""
    name: str
    type: str
    default: Any
    help: str
    secret: bool
    required: bool
    choices: list | None = None
    min: float | None = None
    max: float | None = None
    deprecated: bool = False
    common: bool = False   # accepted by every driver (VolumeDriver / volume manager option)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class DriverInfo:
    """A volume driver class and its own options."""
    class_name: str
    volume_driver: str
    version: str | None
    supported: bool
    description: str
    ci_wiki_name: str | None
    driver_options: list[OptionInfo] = field(default_factory=list)

    def to_dict(self) -> dict:
        d = asdict(self)
        d['driver_options'] = [o.to_dict() for o in self.driver_options]
        return d


def type_name(opt: cfg.Opt) -> str:
    for cls, name in _TYPE_NAMES:
        if isinstance(opt.type, cls):
            return name
    return 'string'


def _required(cls: type | None, opt: cfg.Opt) -> bool:
    return bool(opt.required) or opt.dest in getattr(cls, 'REQUIRED_OPTIONS', ())


def option_info(opt: cfg.Opt, common: bool = False, cls: type | None = None) -> OptionInfo:
    t = opt.type
    choices = getattr(t, 'choices', None)
    if isinstance(choices, dict):
        choices = list(choices)
    default = opt.default
    if isinstance(default, (set, tuple)):
        default = list(default)
    return OptionInfo(
        name=opt.dest, type=type_name(opt), default=None if opt.secret else default,
        help=(opt.help or '').strip(), secret=bool(opt.secret), required=_required(cls, opt),
        choices=list(choices) if choices else None,
        min=getattr(t, 'min', None), max=getattr(t, 'max', None),
        deprecated=bool(opt.deprecated_for_removal), common=common)


def _class_fqn(cls: type) -> str:
    return f'{cls.__module__}.{cls.__name__}'


def _own_options(cls: type) -> list[cfg.Opt]:
    try:
        opts = list(cls.get_driver_options() or [])  # type: ignore[attr-defined]
    except Exception:
        opts = []
    return opts + _cinder.extra_driver_options(cls)


def driver_opts(cls: type) -> list[cfg.Opt]:
    """The oslo.config options a driver class reads, its own ones (no duplicates)."""
    seen: set[str] = set()
    return [o for o in _own_options(cls) if not (o.dest in seen or seen.add(o.dest))]  # type: ignore[func-returns-value]


def describe_driver(cls: type) -> DriverInfo:
    opts, seen = [], set()
    for opt in _own_options(cls):
        if opt.dest not in seen:
            seen.add(opt.dest)
            opts.append(option_info(opt, cls=cls))
    return DriverInfo(
        class_name=cls.__name__, volume_driver=_class_fqn(cls),
        version=str(getattr(cls, 'VERSION', '') or '') or None,
        supported=bool(getattr(cls, 'SUPPORTED', True)),
        description=inspect.cleandoc(cls.__doc__ or '').split('\n\n')[0],
        ci_wiki_name=getattr(cls, 'CI_WIKI_NAME', None), driver_options=opts)


def list_supported_drivers() -> dict[str, dict]:
    """Every volume driver Cinder ships, plus ours, keyed by class path (``volume_driver``).

    Keyed by path, not class name: Cinder has classes of one name in several modules (Nexenta's
    NS5 and older iSCSI/NFS drivers). cinder_nb.cinderlib keeps cinderlib's by-name format.
    """
    result: dict[str, dict] = {}
    for cls in _cinder.registered_volume_drivers():
        info = describe_driver(cls)
        result.setdefault(info.volume_driver, info.to_dict())
    return dict(sorted(result.items()))


def resolve_driver(path: Any) -> type:
    """The driver class for a 'package.module.Class' path, with a clear error if it is not one."""
    if not isinstance(path, str) or '.' not in path:
        raise BackendConfigError(f"volume_driver={path!r} is invalid: expected a class path such as "
                                 f"'{EMBEDDED_DRIVER}'", option='volume_driver')
    module_name, _, class_name = path.rpartition('.')
    try:
        if module_name == _cinder.RBD_MODULE:
            ceph.ensure_bindings()   # Debian's rados/rbd bindings, importable from the venv
        _cinder.prepare_driver_module(module_name)
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise NotFound('volume driver', path, f'(cannot import {module_name}: {exc}). '
                       'See Backend.list_supported_drivers() for the available ones.') from exc
    cls = getattr(module, class_name, None)
    if cls is None:
        near = difflib.get_close_matches(class_name, [n for n in dir(module) if 'Driver' in n], 3)
        raise NotFound('volume driver', path, f'(module {module_name} has no {class_name}'
                       + (f'; did you mean {", ".join(near)}?)' if near else ')'))
    if not _cinder.is_volume_driver_class(cls):
        raise BackendConfigError(f'{path} is not a Cinder volume driver class', option='volume_driver')
    return cls


def options_for(cls: type, with_manager: bool = True) -> dict[str, tuple[cfg.Opt, bool]]:
    """All options a driver class accepts: name -> (opt, is_common)."""
    result: dict[str, tuple[cfg.Opt, bool]] = {}
    for opt in _cinder.common_driver_options(with_manager):
        result[opt.dest] = (opt, True)
    for opt in _own_options(cls):
        result[opt.dest] = (opt, False)
    return result


def driver_option_infos(path: str) -> list[OptionInfo]:
    """Typed options for one driver: its own first, then the common ones."""
    cls = resolve_driver(path)
    opts = options_for(cls)
    own = [option_info(o, cls=cls) for o, common in opts.values() if not common]
    common = [option_info(o, common=True) for o, c in opts.values() if c]
    return own + sorted(common, key=lambda o: o.name)


def validate_options(cls: type, values: dict) -> tuple[dict, set[str]]:
    """Convert option values with their oslo.config types.

    Returns (converted, names of secret options). Unknown names, bad values and
    missing required options raise BackendConfigError naming the option. Options
    a driver registers only at run time (not in get_driver_options) are accepted
    when oslo.config knows them globally.
    """
    known = options_for(cls, with_manager=_cinder.needs_manager_options(cls))
    converted, secret = {}, set()
    for name, value in values.items():
        entry = known.get(name)
        if entry is None and name not in known:   # maybe one of the volume manager's options
            known = options_for(cls)
            entry = known.get(name)
        opt = entry[0] if entry else _cinder.find_option(name)
        if opt is None:
            near = difflib.get_close_matches(name, list(known), 3)
            raise BackendConfigError(
                f'Unknown option {shown_name(name)!r} for {cls.__name__}' +
                (f'; did you mean {", ".join(map(repr, near))}?' if near else
                 '; see cinder_nb._catalog.driver_option_infos() for its options.'), option=name)
        try:
            converted[name] = value if value is None else _convert(opt, value)
        except (ValueError, TypeError) as exc:
            why = str(exc) if not opt.secret else f'not a valid {type_name(opt)}'
            raise BackendConfigError(f'Option {shown_name(name)}={REDACTED if opt.secret else shown(value)} '
                                     f'is invalid for {type_name(opt)} option: {why:.300}',
                                     option=name) from None
        if opt.secret:
            secret.add(name)
    for name, (opt, common) in known.items():
        if _required(cls, opt) and not common and converted.get(name) in (None, ''):
            raise BackendConfigError(f'{cls.__name__} needs option {name!r}: {opt.help or ""}'.strip(),
                                     option=name)
    return converted, secret


#: Python types a value may have for an oslo.config type (besides a string, which the
#: type parses as a config file line). oslo's types coerce whatever they get (str(123)
#: for a StrOpt), so Backend('b', local_file_path=123) made a directory ./123/.
_ACCEPTED: list[tuple[type, tuple[type, ...], str]] = [
    (types.Boolean, (bool,), 'True or False'),
    (types.Integer, (int,), 'an int'),
    (types.Float, (int, float), 'a number'),
    (types.List, (list, tuple), 'a list'),
    (types.Dict, (dict,), 'a dict'),
]


def _check_python_type(typ: Any, value: Any) -> None:
    """Refuse a value whose Python type the option's type would only coerce."""
    if isinstance(value, str):
        return                       # what a config file gives: oslo's type parses it
    for cls, allowed, wanted in _ACCEPTED:
        if isinstance(typ, cls):
            if isinstance(value, bool) and bool not in allowed:
                raise ValueError(f'expected {wanted} (or its text), got a bool')
            if not isinstance(value, allowed):
                raise ValueError(f'expected {wanted} (or its text), got {type(value).__name__}')
            if isinstance(typ, types.List) and typ.item_type is not None:
                for item in value:  # type: ignore[attr-defined]  # a list: isinstance above
                    _check_python_type(typ.item_type, item)
            return
    if (isinstance(typ, types.String) and getattr(typ, 'regex', None) is not None
            and isinstance(value, (int, float)) and not isinstance(value, bool)
            and typ.regex.search(str(value))):  # type: ignore[union-attr]  # not None: checked above
        return      # a StrOpt whose own regex holds numbers (max_over_subscription_ratio)
    # String, URI, IPAddress, HostAddress, HostDomain, ...: text only
    raise ValueError(f'expected a string, got {type(value).__name__}')


def _convert(opt: cfg.Opt, value: Any) -> Any:
    if isinstance(opt, cfg.MultiOpt):
        items = list(value) if isinstance(value, (list, tuple)) else [value]
        for item in items:
            _check_python_type(opt.type, item)
        return [opt.type(v) for v in items]
    _check_python_type(opt.type, value)
    return opt.type(value)


def secret_option_names(cls: type) -> set[str]:
    return {name for name, (opt, _) in options_for(cls, _cinder.needs_manager_options(cls)).items() if opt.secret}
