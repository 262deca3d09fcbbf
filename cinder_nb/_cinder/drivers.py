"""Driver discovery and lifecycle: Cinder's registered drivers, instantiation, start-up, release."""
from __future__ import annotations

import importlib
import logging
import pkgutil
import threading
import warnings
from typing import Any

from cinder_nb._cinder import rbd_fixes
from cinder_nb._cinder.base import HOST, cinder_driver, cinder_interface, context

LOG = logging.getLogger(__name__)


def instantiate_driver(cls: type, backend: str, config: Any) -> Any:
    return cls(configuration=config, host=f'{HOST}@{backend}', cluster_name=None,
               active_backend_id=None)


def start_driver(driver: Any) -> None:
    ctxt = context()
    driver.do_setup(ctxt)
    driver.check_for_setup_error()
    driver.init_capabilities()
    driver.set_throttle()
    driver.set_initialized()


def prepare_driver_module(module_name: str) -> None:
    """Fix-ups a Cinder driver module needs before cinder_nb loads a driver from it."""
    if module_name == rbd_fixes.RBD_MODULE:
        rbd_fixes.prepare_module()


def release_driver(driver: Any) -> None:
    """Free what cinder_nb keeps for a driver that is being unloaded (idle RADOS connections)."""
    rbd_fixes.release(driver)


def is_volume_driver_class(cls: Any) -> bool:
    return isinstance(cls, type) and issubclass(cls, cinder_driver.BaseVD)


def complies_with_interface(cls: type) -> bool:
    """Cinder's own compliance rule (cinder/tests/compliance/test_volume_drivers.py)."""
    from cinder.interface import volume_driver
    return issubclass(cls, volume_driver.VolumeDriverCore)


_catalog_lock = threading.Lock()
_all_drivers: list[type] | None = None


def registered_volume_drivers() -> list[type]:
    """Every volume driver class Cinder ships, plus any registered with @volumedriver
    (cinder_nb's embedded driver registers itself on import: cinder_nb._catalog imports it)."""
    global _all_drivers
    with _catalog_lock:
        if _all_drivers is None:
            import cinder.volume.drivers as pkg
            with warnings.catch_warnings():
                warnings.simplefilter('ignore')
                for info in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.'):
                    try:
                        importlib.import_module(info.name)
                    except Exception as exc:  # a driver whose optional deps are missing
                        LOG.debug('skipping %s: %s', info.name, exc)
            _all_drivers = True  # type: ignore[assignment]
        seen, result = set(), []
        for cls in cinder_interface._volume_register:  # noqa: SLF001
            if cls not in seen:
                seen.add(cls)
                result.append(cls)
        return result


def volumedriver(cls):
    """Cinder's @interface.volumedriver registration decorator."""
    return cinder_interface.volumedriver(cls)

