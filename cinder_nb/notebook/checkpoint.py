"""Checkpoint cells: the state as JSON in a notebook cell that restores it when run.

``%cinder_checkpoint`` puts a new cell below the current one::

    %%cinder_restore
    {"format": "cinder_nb.state", ...}

Running that cell (in this kernel or a fresh one) loads the backends and the
resource records with cinder_nb.load. The JSON comes from cinder_nb.dumps(), so
secret options are redacted: a restore takes them from the environment
(CINDER_NB_SECRET_<BACKEND>_<OPTION>) or from ``restore(..., secrets=...)``.
Headless equivalents: checkpoint(path=None) -> str and restore(text_or_path).
"""
from __future__ import annotations

import argparse
import os
import shlex
from typing import Any

import cinder_nb
from cinder_nb import runtime

MAGIC = '%%cinder_restore'


def checkpoint(path: str | os.PathLike | None = None) -> str:
    """The current state as indented JSON (secrets redacted); also written to ``path`` if given."""
    text = cinder_nb.dumps(indent=1)
    if path is not None:
        tmp = f'{os.fspath(path)}.tmp'
        with open(tmp, 'w', encoding='utf-8') as f:
            f.write(text)
        os.replace(tmp, path)
    return text


def checkpoint_cell() -> str:
    """The text of a restore cell for the current state."""
    return f'{MAGIC}\n{checkpoint()}'


def restore(text_or_path: str | os.PathLike | dict, secrets: dict | None = None) -> dict:
    """Load a checkpoint (JSON text, a dict, a file path or a restore cell's text).

    The records are written to the current persistence, so DataFrames and tables show
    them. Returns cinder_nb.load's summary ({'backends', 'volumes', ...}) plus
    ``'not_in_checkpoint'``: the volumes, snapshots and connections of this session the
    checkpoint does not hold (made after it). A restore never deletes storage, so they
    stay; delete them, or restore into a fresh session for exactly the checkpoint.
    """
    text: Any = text_or_path
    if isinstance(text, os.PathLike) or (isinstance(text, str) and not text.lstrip().startswith(('{', '%'))
                                         and os.path.exists(text)):
        with open(text, encoding='utf-8') as f:
            text = f.read()
    if isinstance(text, str) and text.lstrip().startswith(MAGIC):
        text = text.lstrip().split('\n', 1)[1] if '\n' in text.lstrip() else ''
    loaded = cinder_nb.load(text, save=True, secrets=secrets)
    restored = {obj.id for key in ('volumes', 'snapshots', 'connections') for obj in loaded[key]}
    rt = runtime.get()
    loaded['not_in_checkpoint'] = [obj for kind in ('volume', 'snapshot', 'connection')
                                   for obj in rt.find(kind) if obj.id not in restored]
    return loaded


def summary(loaded: dict) -> str:
    parts = [f"{len(loaded.get(k, []))} {k}" for k in ('backends', 'volumes', 'snapshots', 'connections')]
    return ', '.join(parts)


def _state_summary() -> str:
    rt = runtime.get()
    counts = {k: len(rt.find(k)) for k in ('volume', 'snapshot', 'connection')}
    return (f"{len(rt.backends)} backends, {counts['volume']} volumes, {counts['snapshot']} snapshots, "
            f"{counts['connection']} connections")


_restore_args = argparse.ArgumentParser(prog='%%cinder_restore', add_help=False)
_restore_args.add_argument('--persistence', default=None,
                           help="set up a fresh session first: 'memory' or a URL such as sqlite:///state.db")
_restore_args.add_argument('--state-dir', default=None, help='state dir for that fresh session')


def cinder_checkpoint(line: str = '') -> None:
    """Line magic: write the state into a new restore cell below this one."""
    from IPython import get_ipython
    cell = checkpoint_cell()
    ip = get_ipython()
    if ip is None:
        raise RuntimeError('%cinder_checkpoint needs IPython; use cinder_nb.notebook.checkpoint() instead')
    ip.set_next_input(cell, replace=False)
    print(f'Checkpoint of {_state_summary()} written to a new %%cinder_restore cell below '
          f'(secrets redacted). Run that cell to restore.')



def cinder_restore(line: str, cell: str) -> None:
    """Cell magic: restore the state in the cell body (``--persistence memory`` starts a fresh session)."""
    args = _restore_args.parse_args(shlex.split(line))
    if args.persistence or args.state_dir:
        cinder_nb.setup(args.persistence, state_dir=args.state_dir)
    loaded = restore(cell)
    print(f'Restored {summary(loaded)}.')
    extra = loaded['not_in_checkpoint']
    if extra:
        names = ', '.join(f"{obj.KIND} {getattr(obj, 'name', None) or obj.id}" for obj in extra[:10])
        more = f' and {len(extra) - 10} more' if len(extra) > 10 else ''
        print(f'Kept {len(extra)} resources made after the checkpoint ({names}{more}): a restore never '
              f'deletes storage. Delete them, or run this cell with --persistence memory for exactly '
              f'the checkpoint.')


def load_ipython_extension(ip: Any) -> None:
    """``%load_ext cinder_nb.notebook``: registers %cinder_checkpoint and %%cinder_restore."""
    ip.register_magic_function(cinder_checkpoint, 'line', 'cinder_checkpoint')
    ip.register_magic_function(cinder_restore, 'cell', 'cinder_restore')


def unload_ipython_extension(ip: Any) -> None:
    magics = ip.magics_manager.magics
    magics['line'].pop('cinder_checkpoint', None)
    magics['cell'].pop('cinder_restore', None)
