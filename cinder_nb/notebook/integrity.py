"""Data-integrity checks: stamp verifiable blocks on a volume, verify them after each operation.

    from cinder_nb.notebook import Integrity, verify_lifecycle
    checks = Integrity()
    p1 = checks.stamp(vol)                          # blocks carrying volume id, offset, generation
    snap = vol.create_snapshot()
    checks.verify(snap.create_volume(), p1, 'volume from snapshot')
    checks.df                                       # one row per check: PASS/FAIL, first mismatch
    verify_lifecycle(vol, other_backend)            # snapshot, clone, revert, extend, copy_to, ...

Every 512-byte sector of a stamped block starts with a header (magic, the stamped volume's
id, generation, byte offset) followed by a keyed hash of that header, so a sector that moved,
came from another volume or generation, or was zeroed is told apart, and the frame says what
was found at the first mismatch. Works through the attach path of any backend.
"""
from __future__ import annotations

import hashlib
import os
import struct
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable

import pandas as pd

from cinder_nb.errors import CinderNBError, InvalidArgument

MAGIC = b'CNBSTMP1'
SECTOR = 512
_HEADER = struct.Struct('<8s36sQQ')          # magic, volume id, generation, byte offset: 60 bytes
RESULTS = ('PASS', 'FAIL', 'SKIP')
STRING = pd.StringDtype()
COLUMNS: dict[str, Any] = {
    'step': STRING, 'result': pd.CategoricalDtype(RESULTS), 'volume_id': STRING, 'volume_name': STRING,
    'backend': STRING, 'pattern_volume_id': STRING, 'generation': 'Int64', 'blocks': 'Int64',
    'bytes_checked': 'Int64', 'mismatched_blocks': 'Int64', 'first_mismatch_offset': 'Int64',
    'found': STRING, 'detail': STRING, 'duration_s': 'float64', 'checked_at': 'datetime64[ns, UTC]',
}


@dataclass(frozen=True)
class Pattern:
    """What stamp() wrote: which volume, which generation, at which byte offsets, how big."""
    volume_id: str
    generation: int
    offsets: tuple[int, ...]
    block_size: int

    @property
    def nbytes(self) -> int:
        return len(self.offsets) * self.block_size


def sector(volume_id: str, generation: int, offset: int) -> bytes:
    """The 512 bytes a stamp puts at byte offset (offset is a multiple of 512)."""
    header = _HEADER.pack(MAGIC, volume_id.encode()[:36].ljust(36), generation, offset)
    fill = hashlib.blake2b(header, digest_size=64).digest()
    return header + (fill * 8)[:SECTOR - len(header)]


def block(pattern_volume: str, generation: int, offset: int, size: int) -> bytes:
    return b''.join(sector(pattern_volume, generation, offset + i) for i in range(0, size, SECTOR))


def describe(data: bytes, offset: int) -> str:
    """What a 512-byte sector read at offset holds, in words."""
    if data.count(0) == len(data):
        return 'zeros'
    if data[:8] == MAGIC and len(data) >= _HEADER.size:
        _, vol, gen, off = _HEADER.unpack(data[:_HEADER.size])
        name = vol.decode(errors='replace').strip()
        where = '' if off == offset else f' written for offset {off}'
        intact = len(data) == SECTOR and data == sector(name, gen, off)
        return f'{"" if intact else "corrupted "}stamp of volume {name} generation {gen}{where}'
    return 'other data'


def _offsets(size: int, blocks: int, block_size: int) -> tuple[int, ...]:
    n_slots = size // block_size
    if blocks >= n_slots:
        return tuple(i * block_size for i in range(n_slots))
    if blocks == 1:
        return (0,)
    return tuple(sorted({round(i * (n_slots - 1) / (blocks - 1)) * block_size for i in range(blocks)}))


class _Attached:
    """The volume's local path for the duration of a with block (attach/detach if not attached)."""

    def __init__(self, volume: Any) -> None:
        self.volume, self.mine = volume, False

    def __enter__(self) -> str:
        conn = self.volume.local_attach
        if conn is None:
            conn, self.mine = self.volume.attach(), True
        return conn.path

    def __exit__(self, *exc: Any) -> None:
        if self.mine:
            self.volume.detach()


def _drop_cache(fd: int) -> None:
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    except (OSError, AttributeError):
        pass


def stamp(volume: Any, generation: int = 1, blocks: int = 64, block_size: int = 64 << 10,
          progress: bool = True) -> Pattern:
    """Write blocks stamped with (volume id, offset, generation), spread over the whole volume
    (first and last block included); returns the Pattern to verify later."""
    from cinder_nb.notebook.progress import bar
    _check_volume(volume)
    for name, value, low in (('generation', generation, 0), ('blocks', blocks, 1), ('block_size', block_size, SECTOR)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise InvalidArgument(name, value, f'an integer of at least {low}')
    if block_size % SECTOR:
        raise InvalidArgument('block_size', block_size, f'a multiple of {SECTOR}')
    pattern = Pattern(volume.id, generation, _offsets(volume.size << 30, blocks, block_size), block_size)
    with _Attached(volume) as path, bar(pattern.nbytes, f'stamp {volume.name or volume.id} gen {generation}',
                                        enabled=progress) as pbar:
        fd = os.open(path, os.O_WRONLY)
        try:
            for off in pattern.offsets:
                os.pwrite(fd, block(volume.id, generation, off, block_size), off)
                pbar.update(block_size)
            os.fsync(fd)
            _drop_cache(fd)
        finally:
            os.close(fd)
    return pattern


def check(volume: Any, pattern: Pattern, progress: bool = True) -> dict:
    """Read the pattern's blocks back from volume; returns the counts and the first mismatch."""
    from cinder_nb.notebook.progress import bar
    _check_volume(volume)
    if not isinstance(pattern, Pattern):
        raise InvalidArgument('pattern', pattern, 'a Pattern returned by stamp()')
    bad, first, found = 0, None, None
    with _Attached(volume) as path, bar(pattern.nbytes, f'verify {volume.name or volume.id}',
                                        enabled=progress) as pbar:
        fd = os.open(path, os.O_RDONLY)
        try:
            _drop_cache(fd)
            for off in pattern.offsets:
                want = block(pattern.volume_id, pattern.generation, off, pattern.block_size)
                got = os.pread(fd, pattern.block_size, off)
                if got != want:
                    bad += 1
                    if first is None:
                        i = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), len(got))
                        first = off + i
                        at = off + i - (i % SECTOR)
                        found = describe(got[at - off:at - off + SECTOR], at) if at - off < len(got) else 'end of volume'
                pbar.update(pattern.block_size)
        finally:
            os.close(fd)
    return {'blocks': len(pattern.offsets), 'bytes_checked': pattern.nbytes, 'mismatched_blocks': bad,
            'first_mismatch_offset': first, 'found': found}


def zeros_check(volume: Any, start: int, length: int, samples: int = 64, sample_size: int = 64 << 10) -> dict:
    """Sample length bytes from start (first and last sample included): all must read zeros."""
    _check_volume(volume)
    offsets = [start + o for o in _offsets(length, samples, sample_size)]
    bad, first, found = 0, None, None
    with _Attached(volume) as path:
        fd = os.open(path, os.O_RDONLY)
        try:
            _drop_cache(fd)
            for off in offsets:
                got = os.pread(fd, sample_size, off)
                if got.count(0) != len(got):
                    bad += 1
                    if first is None:
                        i = next(i for i, b in enumerate(got) if b)
                        first = off + i
                        at = off + i - (i % SECTOR)
                        found = describe(got[at - off:at - off + SECTOR], at)
        finally:
            os.close(fd)
    return {'blocks': len(offsets), 'bytes_checked': len(offsets) * sample_size, 'mismatched_blocks': bad,
            'first_mismatch_offset': first, 'found': found}


def _check_volume(volume: Any) -> None:
    from cinder_nb.volume import Volume
    if not isinstance(volume, Volume):
        raise InvalidArgument('volume', volume, 'a cinder_nb.Volume')


class Integrity:
    """Collects integrity checks of one exploration; ``.df`` is the DataFrame of them."""

    def __init__(self, blocks: int = 64, block_size: int = 64 << 10, progress: bool = True) -> None:
        self.blocks, self.block_size, self.progress = blocks, block_size, progress
        self.rows: list[dict] = []
        self._generations: dict[str, int] = {}

    def stamp(self, volume: Any, generation: int | None = None) -> Pattern:
        """Stamp volume with the next generation for it (or the one given)."""
        gen = generation if generation is not None else self._generations.get(volume.id, 0) + 1
        pattern = stamp(volume, gen, self.blocks, self.block_size, progress=self.progress)
        self._generations[volume.id] = max(gen, self._generations.get(volume.id, 0))
        return pattern

    def verify(self, volume: Any, pattern: Pattern, step: str) -> bool:
        """Check that volume holds pattern; adds a PASS/FAIL row named step; returns whether it passed."""
        t0 = time.perf_counter()
        try:
            out = check(volume, pattern, progress=self.progress)
        except CinderNBError as exc:
            return self._row(step, 'FAIL', volume, pattern, t0, detail=f'could not read it: {exc.message}')
        ok = out['mismatched_blocks'] == 0
        detail = (f'{out["blocks"]} blocks of generation {pattern.generation} intact' if ok else
                  f'{out["mismatched_blocks"]} of {out["blocks"]} blocks differ; first at byte '
                  f'{out["first_mismatch_offset"]}: {out["found"]}')
        return self._row(step, 'PASS' if ok else 'FAIL', volume, pattern, t0, detail=detail, **out)

    def verify_zeros(self, volume: Any, start: int, length: int, step: str) -> bool:
        """Check that a byte range (e.g. the space an extend added) reads zeros."""
        t0 = time.perf_counter()
        out = zeros_check(volume, start, length)
        ok = out['mismatched_blocks'] == 0
        detail = (f'{out["blocks"]} samples from byte {start} read zeros' if ok else
                  f'{out["mismatched_blocks"]} samples hold data; first at byte {out["first_mismatch_offset"]}: '
                  f'{out["found"]}')
        return self._row(step, 'PASS' if ok else 'FAIL', volume, None, t0, detail=detail, **out)

    def skip(self, step: str, volume: Any, reason: str) -> None:
        self._row(step, 'SKIP', volume, None, time.perf_counter(), detail=reason)

    def fail(self, step: str, volume: Any, reason: str) -> None:
        self._row(step, 'FAIL', volume, None, time.perf_counter(), detail=reason)

    def _row(self, step: str, result: str, volume: Any, pattern: Pattern | None, t0: float, detail: str,
             **out: Any) -> bool:
        self.rows.append({
            'step': step, 'result': result, 'volume_id': getattr(volume, 'id', None),
            'volume_name': getattr(volume, 'name', None), 'backend': getattr(volume, 'backend_name', None),
            'pattern_volume_id': pattern.volume_id if pattern else None,
            'generation': pattern.generation if pattern else None, 'blocks': out.get('blocks'),
            'bytes_checked': out.get('bytes_checked'), 'mismatched_blocks': out.get('mismatched_blocks'),
            'first_mismatch_offset': out.get('first_mismatch_offset'), 'found': out.get('found'),
            'detail': detail, 'duration_s': time.perf_counter() - t0, 'checked_at': datetime.now(timezone.utc)})
        return result == 'PASS'

    @property
    def df(self) -> pd.DataFrame:
        """The checks so far, one row each (columns as COLUMNS)."""
        df = pd.DataFrame(self.rows, columns=list(COLUMNS))
        for col, dtype in COLUMNS.items():
            df[col] = (pd.to_datetime(df[col], utc=True) if dtype == 'datetime64[ns, UTC]' else df[col]).astype(dtype)
        return df

    @property
    def passed(self) -> bool:
        return bool(self.rows) and all(r['result'] != 'FAIL' for r in self.rows)

    def print_checks(self) -> None:
        """PASS/FAIL lines like the labs' check cells."""
        for r in self.rows:
            print(f"{r['result']:<5} {r['step']}  ->  {r['detail']}")


def supports_revert(backend: Any) -> bool:
    """Whether the backend's driver has revert_to_snapshot (Cinder's base classes do not define it)."""
    return callable(getattr(backend.driver, 'revert_to_snapshot', None))


def verify_lifecycle(volume: Any, copy_backend: Any = None, checks: Integrity | None = None,
                     cleanup: bool = True, progress: bool = True) -> pd.DataFrame:
    """Stamp volume and verify its data through every operation; returns the checks' DataFrame.

    Steps: detach/attach, snapshot, new data after the snapshot, volume from snapshot, clone,
    revert to the snapshot (SKIP where the driver has no revert), copy_to copy_backend (default:
    the volume's own backend), extend (old data kept, new space reads zeros). The volume
    must be available; it ends extended by 1 GiB and reverted. cleanup deletes what was created.
    """
    from cinder_nb.notebook.progress import bar
    _check_volume(volume)
    checks = checks if checks is not None else Integrity(progress=False)
    target = copy_backend if copy_backend is not None else volume.backend
    made: list[Any] = []
    steps = bar(9, f'integrity of {volume.name or volume.id}', unit='step', enabled=progress)

    def step(name: str, run: Callable[[], Any]) -> Any:
        steps.set_postfix_str(name, refresh=False)
        try:
            return run()
        except CinderNBError as exc:
            checks.fail(name, volume, f'the operation failed: {exc.message}')
            return None
        finally:
            steps.update(1)

    try:
        current = step('stamp generation 1', lambda: checks.stamp(volume))
        if current is None:
            return checks.df
        p1 = current
        step('detach/attach', lambda: checks.verify(volume, p1, 'after detach/attach'))
        snap = step('snapshot', volume.create_snapshot)
        if snap is not None:
            made.append(snap)
            checks.verify(volume, p1, 'source after snapshot')
        current = step('stamp generation 2 after the snapshot', lambda: checks.stamp(volume)) or current
        if snap is None:
            steps.update(1)
        else:
            from_snap = step('volume from snapshot', snap.create_volume)
            if from_snap is not None:
                made.append(from_snap)
                checks.verify(from_snap, p1, 'volume from snapshot holds the snapshot (generation 1)')
        clone = step('clone', volume.clone)
        if clone is not None:
            made.append(clone)
            checks.verify(clone, current, f'clone holds the current data (generation {current.generation})')
        if snap is None or not supports_revert(volume.backend):
            checks.skip('revert to snapshot', volume, 'no snapshot' if snap is None else
                        f'{type(volume.backend.driver).__name__} has no revert_to_snapshot')
            steps.update(1)
        elif step('revert to snapshot', lambda: volume.revert_to_snapshot(snap) or True):
            current = p1
            checks.verify(volume, p1, 'after revert to snapshot (generation 1)')
        copy = step('copy_to', lambda: volume.copy_to(target, name=f'{volume.name or "volume"}-copy'))
        if copy is not None:
            made.append(copy)
            checks.verify(copy, current, f'copy_to {target.name} (generation {current.generation})')
        old = volume.size
        if step('extend', lambda: volume.extend(old + 1) or True):
            checks.verify(volume, current, f'after extend {old} -> {old + 1} GiB')
            checks.verify_zeros(volume, old << 30, 1 << 30, 'extended space reads zeros')
    finally:
        steps.close()
        if cleanup:
            for obj in reversed(made):
                try:
                    obj.delete()
                except CinderNBError:
                    pass
    return checks.df

