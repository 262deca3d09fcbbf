"""Option registration: a backend's oslo.config group, Cinder's option lists, [DEFAULT] overrides."""
from __future__ import annotations

import warnings
from typing import Any, Iterable

from cinder_nb._cinder.base import CONF, SHARED_GROUP, cfg, cinder_configuration, cinder_driver
from cinder_nb.errors import InvalidArgument


def volume_manager() -> Any:
    """cinder.volume.manager, imported on first need.

    Importing it pulls in taskflow and jsonschema (over a second with the Jupyter
    stack installed) only to register its option lists; cinder_nb's own drivers do
    not read those options, so they are loaded for Cinder-shipped drivers only.
    """
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        from cinder.volume import manager
    return manager


def needs_manager_options(cls: type) -> bool:
    """Whether a driver class may read the volume manager's options (Cinder's drivers may)."""
    return not cls.__module__.startswith('cinder_nb.')


def make_backend_config(backend: str, options: dict, with_manager: bool = True) -> Any:
    """Register an oslo.config group for a backend, set its options, return a Configuration."""
    CONF.register_group(cfg.OptGroup(backend))
    # A backend of the same name from an earlier setup() that was never shut down left its
    # overrides in the group: without this, options not given now would keep its values.
    for name in list(CONF[backend]):
        CONF.clear_override(name, group=backend)
    base = []
    if with_manager:
        manager = volume_manager()
        base = manager.volume_manager_opts + manager.volume_backend_opts
    config = cinder_configuration.Configuration(base, config_group=backend)
    for name, value in options.items():
        opt = find_option(name)
        if opt is not None:
            config.append_config_values([opt])
        CONF.set_override(name, value, group=backend)
    return config


def clear_backend_config(backend: str, options: Iterable[str]) -> None:
    for name in options:
        try:
            CONF.clear_override(name, group=backend)
        except cfg.NoSuchOptError:
            pass


def find_option(name: str) -> Any | None:
    """The registered oslo.config option of that name (backend or DEFAULT group)."""
    for group in (SHARED_GROUP, None):
        opts = CONF._groups[group]._opts if group else CONF._opts  # noqa: SLF001
        if name in opts:
            return opts[name]['opt']
    return None


#: global options cinder_nb sets itself in initialize(); a caller may not override them
_OWN_GLOBAL_OPTIONS = frozenset({'state_path', 'host', 'debug'})


def set_global_options(values: dict) -> None:
    """Set Cinder's global ([DEFAULT]) options, each checked by its oslo.config type.

    For cinderlib's setup(**cinder_config_params). Unknown names and bad values raise
    InvalidArgument (cinderlib only logged a warning) and nothing is set.
    """
    for name, value in check_global_options(values).items():
        CONF.set_override(name, value)


def check_global_options(values: dict) -> dict:
    """values converted by their oslo.config types; InvalidArgument for unknown or bad ones."""
    checked = {}
    for name, value in values.items():
        if name in _OWN_GLOBAL_OPTIONS:
            raise InvalidArgument(name, value, 'not given: cinder_nb sets this option itself')
        entry = CONF._opts.get(name)  # noqa: SLF001
        if entry is None:
            raise InvalidArgument(name, value, "a Cinder [DEFAULT] option (this one is unknown)")
        try:
            checked[name] = value if value is None else entry['opt'].type(value)
        except (TypeError, ValueError) as exc:
            raise InvalidArgument(name, value, f'a valid value ({exc})') from None
    return checked


def common_driver_options(with_manager: bool = True) -> list:
    """Options every driver accepts (VolumeDriver's and, by default, the volume manager's)."""
    groups = [cinder_driver.volume_opts, cinder_driver.iser_opts, cinder_driver.nvmet_opts,
              cinder_driver.scst_opts, cinder_driver.image_opts, cinder_driver.fqdn_opts,
              cinder_driver.backup_opts]
    if with_manager:
        groups.append(volume_manager().volume_backend_opts)
    return [opt for group in groups for opt in group]

