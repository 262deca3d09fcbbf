"""Checkpoint cells: the state kept in ONE notebook cell that saves it again or restores it.

A notebook holds one checkpoint cell; the magics are there after ``import cinder_nb.notebook``::

    %%cinder_checkpoint
    # 1 backend, 3 volumes, 1 snapshot, 0 connections · saved 2026-11-26 02:13 UTC
    {"format": "cinder_nb.state", ...}

Running it in a kernel that holds cinder_nb resources (as in *Run All*) **saves**: the cell's
own text is replaced by the new checkpoint, so *Run All* never adds cells and can run any
number of times. Running it in a fresh kernel (nothing loaded yet, e.g. after a restart)
**restores** the checkpoint. ``--save`` / ``--restore`` force one or the other.
A checkpoint larger than INLINE_MAX characters is written beside the notebook
(``<notebook>.cinder-checkpoints/<sha256>.json``) and the cell keeps the file name and its
sha256, which a restore checks. A restore that cannot apply prints one line and changes
nothing (cinder_nb.load is all-or-nothing), so *Run All* goes on.

Secret options are redacted: a restore takes them from the environment
(CINDER_NB_SECRET_<BACKEND>_<OPTION>) or from ``restore(..., secrets=...)``.
``%%cinder_restore`` (cells written by older versions) only restores.
Headless equivalents: checkpoint(path=None) -> str and restore(text_or_path).
"""
from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import shlex
import sys
from typing import Any

import cinder_nb
from cinder_nb import _runtime
from cinder_nb.errors import CinderNBError, InvalidArgument

MAGIC = '%%cinder_checkpoint'
LEGACY_MAGIC = '%%cinder_restore'
#: checkpoints longer than this go to a file beside the notebook (the cell keeps name + sha256)
INLINE_MAX = 12_000
FILE_KEY = 'checkpoint_file'


def checkpoint(path: str | os.PathLike | None = None) -> str:
    """The current state as indented JSON (secrets redacted); also written to ``path`` if given."""
    text = cinder_nb.dumps(indent=1)
    if path is not None:
        _write_atomic(os.fspath(path), text)
    return text


def _write_atomic(path: str, text: str) -> None:
    tmp = f'{path}.tmp'
    with open(tmp, 'w', encoding='utf-8') as f:
        f.write(text)
    os.replace(tmp, path)


def _notebook_stem() -> str:
    """The running notebook's file name without .ipynb (Jupyter sets JPY_SESSION_NAME), else 'notebook'."""
    name = os.path.basename(os.environ.get('JPY_SESSION_NAME', '') or '')
    stem = name[:-6] if name.endswith('.ipynb') else name
    return stem or 'notebook'


def checkpoint_cell(directory: str | os.PathLike | None = None, inline_max: int = INLINE_MAX) -> str:
    """The text of the checkpoint cell for the current state.

    Small states are inline JSON; larger ones are written to
    ``<directory>/<notebook>.cinder-checkpoints/<sha256>.json`` (directory: the kernel's
    working directory, which Jupyter sets to the notebook's folder) and referenced by name and hash.
    """
    text = checkpoint()
    head = f'{MAGIC}\n# {_state_summary()} · saved {_now()}\n'
    if len(text) <= inline_max:
        return head + text
    digest = hashlib.sha256(text.encode('utf-8')).hexdigest()
    rel = os.path.join(f'{_notebook_stem()}.cinder-checkpoints', f'{digest[:16]}.json')
    full = os.path.join(os.fspath(directory) if directory is not None else os.getcwd(), rel)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    if not os.path.exists(full):
        _write_atomic(full, text)
    ref = json.dumps({FILE_KEY: rel, 'sha256': digest})
    return head + f'# {len(text):,} characters: stored beside the notebook, checked by its sha256\n{ref}'


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')


def _cell_body(text: str) -> str:
    """The JSON part of a checkpoint cell's text (magic line and # comments dropped)."""
    lines = text.strip().split('\n')
    if lines and lines[0].lstrip().startswith(('%%cinder_restore', '%%cinder_checkpoint')):
        lines = lines[1:]
    return '\n'.join(line for line in lines if not line.lstrip().startswith('#')).strip()


def _resolve(body: str, directory: str | None = None) -> str:
    """The checkpoint JSON of a cell body: inline, or the referenced file after its sha256 check."""
    if FILE_KEY not in body[:200]:
        return body
    try:
        ref = json.loads(body)
    except ValueError:
        return body
    if not isinstance(ref, dict) or FILE_KEY not in ref:
        return body
    rel, digest = ref.get(FILE_KEY), ref.get('sha256')
    if not isinstance(rel, str) or not isinstance(digest, str):
        raise InvalidArgument('checkpoint cell', body[:80], f'{{"{FILE_KEY}": "<file>", "sha256": "<hex>"}}')
    path = os.path.join(directory or os.getcwd(), rel)
    try:
        with open(path, 'rb') as f:
            data = f.read()
    except OSError as exc:
        raise InvalidArgument(FILE_KEY, rel, f'a readable checkpoint file beside the notebook ({exc.strerror})') \
            from None
    if hashlib.sha256(data).hexdigest() != digest:
        raise InvalidArgument(FILE_KEY, rel, f'the file this cell saved (sha256 {digest[:16]}…); it was changed '
                                             'since')
    return data.decode('utf-8')


def restore(text_or_path: str | os.PathLike | dict, secrets: dict | None = None) -> dict:
    """Load a checkpoint (JSON text, a dict, a file path or a checkpoint cell's text).

    The records are written to the current persistence, so DataFrames and tables show
    them. Returns cinder_nb.load's summary ({'backends', 'volumes', ...}) plus
    ``'not_in_checkpoint'``: the volumes, snapshots and connections of this session the
    checkpoint does not hold (made after it). A restore never deletes storage, so they
    stay; delete them, or restore into a fresh session for exactly the checkpoint.
    Nothing changes if it fails (typed errors from cinder_nb.errors).
    """
    text: Any = text_or_path
    if isinstance(text, os.PathLike) or (isinstance(text, str) and not text.lstrip().startswith(('{', '%', '#'))
                                         and os.path.exists(text)):
        with open(text, encoding='utf-8') as f:
            text = f.read()
    if isinstance(text, str) and text.lstrip().startswith(('%', '#')):
        text = _resolve(_cell_body(text))
    elif isinstance(text, str):
        text = _resolve(text.strip())
    loaded = cinder_nb.load(text, save=True, secrets=secrets)
    restored = {obj.id for key in ('volumes', 'snapshots', 'connections') for obj in loaded[key]}
    rt = _runtime.get()
    loaded['not_in_checkpoint'] = [obj for kind in ('volume', 'snapshot', 'connection')
                                   for obj in rt.find(kind) if obj.id not in restored]
    return loaded


def summary(loaded: dict) -> str:
    parts = [f"{len(loaded.get(k, []))} {k}" for k in ('backends', 'volumes', 'snapshots', 'connections')]
    return ', '.join(parts)


def _plural(n: int, word: str) -> str:
    return f'{n} {word}' + ('' if n == 1 else 's')


def _state_summary() -> str:
    rt = _runtime.get()
    counts = {k: len(rt.find(k)) for k in ('volume', 'snapshot', 'connection')}
    return ', '.join([_plural(len(rt.backends), 'backend')] + [_plural(n, k) for k, n in counts.items()])


def _session_empty() -> bool:
    rt = _runtime.get()
    return not rt.backends and not any(rt.find(k) for k in ('volume', 'snapshot', 'connection'))


def _args(prog: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, add_help=False)
    p.add_argument('--persistence', default=None,
                   help="set up a fresh session first: 'memory' or a URL such as sqlite:///state.db")
    p.add_argument('--state-dir', default=None, help='state dir for that fresh session')
    if prog == MAGIC:
        mode = p.add_mutually_exclusive_group()
        mode.add_argument('--save', action='store_true', help='always save the current state into this cell')
        mode.add_argument('--restore', action='store_true', help='always restore this cell\'s checkpoint')
    return p


def _parse(prog: str, line: str) -> argparse.Namespace | None:
    try:
        return _args(prog).parse_args(shlex.split(line))
    except (SystemExit, ValueError):
        print(f'{prog}: unknown arguments {line!r}; use --save, --restore, --persistence URL, --state-dir DIR',
              file=sys.stderr)
        return None


def _fail(what: str, exc: BaseException) -> None:
    message = exc.message if isinstance(exc, CinderNBError) else f'{type(exc).__name__}: {exc}'
    first = ' '.join(str(message).split())
    print(f'✖ {what}: {first} Nothing was changed.', file=sys.stderr)


def _do_restore(cell: str) -> bool:
    try:
        loaded = restore(cell)
    except Exception as exc:  # noqa: BLE001 - one line for the student; load() changed nothing
        _fail('Checkpoint not restored', exc)
        return False
    print(f'✔ Restored {summary(loaded)}.')
    extra = loaded['not_in_checkpoint']
    if extra:
        names = ', '.join(f"{obj.KIND} {getattr(obj, 'name', None) or obj.id}" for obj in extra[:10])
        more = f' and {len(extra) - 10} more' if len(extra) > 10 else ''
        print(f'Kept {len(extra)} resources made after the checkpoint ({names}{more}): a restore never '
              f'deletes storage. Delete them, or restore with --persistence memory for exactly the checkpoint.')
    return True


def _save_into_cell(prefix: str = '') -> str:
    from IPython import get_ipython
    text = checkpoint_cell()
    if prefix:
        text = text.replace(MAGIC, f'{MAGIC} {prefix}', 1)
    ip = get_ipython()
    if ip is not None:
        ip.set_next_input(text, replace=True)   # JupyterLab replaces this cell's text: no cell is added
    return text


def cinder_checkpoint_cell(line: str, cell: str) -> None:
    """Cell magic ``%%cinder_checkpoint``: save the state into this cell, or restore it in a fresh kernel."""
    args = _parse(MAGIC, line)
    if args is None:
        return
    if args.persistence or args.state_dir:
        cinder_nb.setup(args.persistence, state_dir=args.state_dir)
    body = _cell_body(cell)
    if args.restore or (not args.save and body and _session_empty()):
        if not body:
            print(f'✖ {MAGIC} --restore: this cell holds no checkpoint yet. Nothing was changed.',
                  file=sys.stderr)
            return
        _do_restore(cell)
        return
    try:
        text = _save_into_cell(' '.join(a for a in shlex.split(line) if a == '--save'))
    except Exception as exc:  # noqa: BLE001
        _fail('Checkpoint not saved', exc)
        return
    where = 'a file beside the notebook' if FILE_KEY in text else 'this cell'
    print(f'✔ Checkpoint of {_state_summary()} saved into {where} (secrets redacted). After a kernel '
          f'restart, run this cell first to restore it.')


def cinder_checkpoint(line: str = '') -> None:
    """Line magic ``%cinder_checkpoint``: turn this cell into the notebook's one checkpoint cell."""
    from IPython import get_ipython
    ip = get_ipython()
    if ip is None:
        raise RuntimeError('%cinder_checkpoint needs IPython; use cinder_nb.notebook.checkpoint() instead')
    raw = (ip.history_manager.input_hist_raw or [''])[-1]
    others = [ln for ln in raw.splitlines() if ln.strip() and not ln.lstrip().startswith('#')
              and not ln.strip().startswith(('%cinder_checkpoint', '%load_ext cinder_nb.notebook'))]
    if others:   # the cell holds more code: keep it, write the checkpoint beside the notebook
        name = f'{_notebook_stem()}.cinder-checkpoint.json'
        checkpoint(name)
        print(f'✔ Checkpoint of {_state_summary()} written to {name}. Restore it with '
              f'cinder_nb.notebook.restore({name!r}), or put %cinder_checkpoint alone in a cell.')
        return
    text = _save_into_cell()
    print(f'✔ Checkpoint of {_state_summary()} saved: this cell now holds it ({MAGIC}). Running it again '
          f'saves again; after a kernel restart it restores.' if FILE_KEY not in text else
          f'✔ Checkpoint of {_state_summary()} saved beside the notebook; this cell now holds its name and hash.')


def cinder_restore(line: str, cell: str) -> None:
    """Cell magic ``%%cinder_restore`` (older checkpoint cells): restore the state in the cell body."""
    args = _parse(LEGACY_MAGIC, line)
    if args is None:
        return
    if args.persistence or args.state_dir:
        cinder_nb.setup(args.persistence, state_dir=args.state_dir)
    _do_restore(cell)


def load_ipython_extension(ip: Any) -> None:
    """Registers %cinder_checkpoint, %%cinder_checkpoint and %%cinder_restore (import does it too)."""
    ip.register_magic_function(cinder_checkpoint, 'line', 'cinder_checkpoint')
    ip.register_magic_function(cinder_checkpoint_cell, 'cell', 'cinder_checkpoint')
    ip.register_magic_function(cinder_restore, 'cell', 'cinder_restore')


def unload_ipython_extension(ip: Any) -> None:
    magics = ip.magics_manager.magics
    magics['line'].pop('cinder_checkpoint', None)
    magics['cell'].pop('cinder_checkpoint', None)
    magics['cell'].pop('cinder_restore', None)


def register_in_running_shell() -> None:
    """Register the magics in the running IPython, if any (so ``import cinder_nb.notebook`` suffices)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    ip = get_ipython()
    if ip is not None:
        load_ipython_extension(ip)
