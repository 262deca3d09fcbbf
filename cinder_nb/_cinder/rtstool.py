"""Cinder's LIO target helper runs cinder-rtstool's functions in this process."""
from __future__ import annotations

import os
from typing import Any

from cinder_nb._cinder.base import cinder_utils

#: cinder-rtstool subcommand -> positions (in its argv) of the CHAP password
_RTSTOOL_PASSWORD_ARG = {'create': (5,), 'add-initiator': (4,)}


def run_in_process() -> None:
    """LIO target helper: run cinder-rtstool's functions here instead of one process each.

    Cinder's LioAdm runs ``cinder-rtstool`` (a Python program importing cinder and rtslib)
    five times per export and four per unexport; under emulation each start cost 13-34 s,
    and processutils logged its command line, CHAP password included, at DEBUG. As root
    (which LIO needs anyway) the same functions of cinder.cmd.rtstool run in this process,
    under LioAdm's own external lock; failures still reach Cinder as ProcessExecutionError,
    whose command names the subcommand only.
    """
    if os.geteuid() != 0:
        return
    try:
        from cinder.volume.targets import lio
    except ImportError:   # pragma: no cover - rtslib missing: LioAdm would fail on its own
        return
    if getattr(lio.LioAdm, '_cinder_nb_in_process', False):
        return
    from oslo_concurrency import processutils

    def run(argv: list[str]) -> str:
        from cinder import i18n
        from cinder.cmd import rtstool   # its import switches oslo.i18n to lazy messages:
        i18n.enable_lazy(False)          # switch back, our error texts stay plain strings
        if argv[0] == 'get-targets':     # the one subcommand that answers on stdout
            import rtslib_fb
            return ''.join(t.wwn + '\n' for t in rtslib_fb.root.RTSRoot().targets)
        if argv[0] == 'verify':
            rtstool.verify_rtslib()
            return ''
        rtstool.main(['cinder-rtstool', *argv])
        return ''

    def execute(*args: Any, **kwargs: Any) -> tuple[str, str]:
        if not args or args[0] != 'cinder-rtstool':
            return cinder_utils.execute(*args, **kwargs)
        try:
            return run(list(args[1:])), ''
        except (Exception, SystemExit) as exc:   # rtstool's usage() exits; rtslib raises
            message = f'{type(exc).__name__}: {exc}'
            for position in _RTSTOOL_PASSWORD_ARG.get(args[1] if len(args) > 1 else '', ()):
                if len(args) > position and args[position]:
                    message = message.replace(str(args[position]), '***')
            raise processutils.ProcessExecutionError(
                exit_code=1, cmd=f'cinder-rtstool {args[1] if len(args) > 1 else ""} (in process)',
                stderr=message) from None

    # LioAdm._execute: cinder-rtstool calls run in-process, under the same 'lioadm' lock
    lio.LioAdm._execute = staticmethod(cinder_utils.synchronized('lioadm', external=True)(execute))
    # LioAdm._verify_rtstool (driver start-up) checks rtslib in-process the same way
    lio.LioAdm._verify_rtstool = lambda self: execute('cinder-rtstool', 'verify')
    lio.LioAdm._cinder_nb_in_process = True

