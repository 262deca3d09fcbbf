"""Atomic file writes: a crash (even kill -9 or power loss after fsync) leaves the old file or the new one."""
from __future__ import annotations

import os
import tempfile

__all__ = ['write_file']


def write_file(path: str, text: str) -> None:
    """Write text to path atomically: temp file in the same directory, fsync, rename, fsync the directory."""
    path = os.path.abspath(path)
    directory = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(prefix='.' + os.path.basename(path) + '.', suffix='.tmp', dir=directory)
    try:
        with os.fdopen(fd, 'w', encoding='utf-8') as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    dfd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)
