"""Helpers shared by the benchmark scripts (stdlib only: they run in both venvs)."""
from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from typing import Any, Callable, Iterable, Sequence

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH_DIR)
RESULTS_DIR = os.path.join(BENCH_DIR, 'results')
GiB = 1 << 30
MiB = 1 << 20
clock = time.perf_counter


def extract_tree(rev: str, dest: str) -> str:
    """``git archive rev cinder_nb`` of this repository extracted into dest (made if missing):
    put dest first on PYTHONPATH and a process imports that revision's cinder_nb. Returns dest."""
    os.makedirs(dest, exist_ok=True)
    archive = subprocess.run(['git', '-C', REPO, 'archive', rev, 'cinder_nb'], capture_output=True, check=True).stdout
    subprocess.run(['tar', '-x', '-C', dest], input=archive, check=True)
    return dest


def run_json(env: dict, *args: str) -> dict:
    """Run ``python *args --out FILE`` in env from the repository; return FILE's JSON."""
    import tempfile
    with tempfile.NamedTemporaryFile(suffix='.json') as out:
        proc = subprocess.run([sys.executable, *args, '--out', out.name], env=env, cwd=REPO,
                              capture_output=True, text=True)
        if proc.returncode:
            raise SystemExit(f'{args[0]} failed:\n{proc.stderr[-3000:]}')
        with open(out.name) as f:
            return json.load(f)


def ab_rounds(rev: str, rounds: int, one: Callable[[dict], dict]) -> None:
    """Alternate processes of `git archive rev cinder_nb` ('old') and this checkout ('new'),
    old first in odd rounds; one(env) -> {measure: seconds} runs one process set (a measure
    named '... x' is a ratio, printed as it is). Prints the medians over rounds of each side
    and new / old, overall and per round."""
    import tempfile
    old_tree = extract_tree(rev, tempfile.mkdtemp(prefix='ab-old-'))
    base = dict(os.environ, PYTHONWARNINGS='ignore')
    envs = {'old': dict(base, PYTHONPATH=old_tree), 'new': dict(base, PYTHONPATH=REPO)}
    results: dict[str, list[dict[str, float]]] = {'old': [], 'new': []}
    for r in range(rounds):
        for side in (('old', 'new') if r % 2 == 0 else ('new', 'old')):
            results[side].append(one(envs[side]))
            print(f'round {r + 1} {side}: ' + ', '.join(f'{k} {v * _scale(k):.4f}'
                                                       for k, v in results[side][-1].items()),
                  file=sys.stderr, flush=True)
    # the load of a shared machine drifts between rounds: the ratio within each round (two
    # processes run back to back) is steadier than the ratio of the overall medians
    print(f"\n| measure (ms, or ratio: median of {rounds} processes' medians) | old ({rev}) | new | new / old "
          '| new / old per round (median) |')
    print('|---|---:|---:|---:|---:|')
    for key in results['old'][0]:
        k = _scale(key)
        old, new = (median(x[key] for x in results[s]) for s in ('old', 'new'))
        spread = {s: ', '.join(f'{x[key] * k:.3f}' for x in results[s]) for s in ('old', 'new')}
        per_round = [n[key] / o[key] for o, n in zip(results['old'], results['new'])]
        print(f'| {key} | {old * k:.4f} ({spread["old"]}) | {new * k:.4f} ({spread["new"]}) | {new / old:.2f} '
              f'| {median(per_round):.2f} ({", ".join(f"{x:.2f}" for x in per_round)}) |')


def _scale(key: str) -> float:
    """ab_rounds' measures are seconds, shown in ms, or ratios (named '... x'), shown as they are."""
    return 1.0 if key.endswith(' x') else 1e3


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Run fn once; return (seconds, result)."""
    start = clock()
    result = fn()
    return clock() - start, result


def median(values: Iterable[float]) -> float:
    values = list(values)
    return statistics.median(values) if values else float('nan')


def maxrss_mib() -> float:
    """Peak resident set size of this process in MiB (ru_maxrss is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def write_bytes() -> int:
    """Bytes this process caused to be written to storage so far (/proc/self/io)."""
    with open('/proc/self/io') as f:
        for line in f:
            if line.startswith('write_bytes:'):
                return int(line.split()[1])
    return 0


def fs_type(path: str) -> str:
    try:
        out = subprocess.run(['df', '--output=fstype', path], capture_output=True, text=True,
                             check=True).stdout.split()
        return out[-1] if out else 'unknown'
    except (OSError, subprocess.CalledProcessError):
        return 'unknown'


def machine_info(work_dir: str) -> dict:
    """nproc, memory, kernel, CPU model and the filesystem of the work dir."""
    mem_kib = 0
    with open('/proc/meminfo') as f:
        for line in f:
            if line.startswith('MemTotal:'):
                mem_kib = int(line.split()[1])
    cpu = ''
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    cpu = line.split(':', 1)[1].strip()
                    break
    except OSError:
        pass
    return {'nproc': os.cpu_count(), 'memory_gib': round(mem_kib / (1 << 20), 1),
            'kernel': platform.release(), 'cpu': cpu, 'python': platform.python_version(),
            'os': _os_release(), 'work_dir': work_dir, 'filesystem': fs_type(work_dir),
            'root': os.geteuid() == 0}


def _os_release() -> str:
    try:
        with open('/etc/os-release') as f:
            for line in f:
                if line.startswith('PRETTY_NAME='):
                    return line.split('=', 1)[1].strip().strip('"')
    except OSError:
        pass
    return platform.platform()


def md_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A GitHub Markdown table."""
    def cell(v: Any) -> str:
        if isinstance(v, float):
            return f'{v:.3g}' if abs(v) < 1000 else f'{v:,.0f}'
        return str(v)
    lines = ['| ' + ' | '.join(headers) + ' |',
             '|' + '|'.join('---' if i == 0 else '---:' for i in range(len(headers))) + '|']
    lines += ['| ' + ' | '.join(cell(v) for v in row) + ' |' for row in rows]
    return '\n'.join(lines)


def emit(result: dict, out: str | None) -> None:
    """Write a child's JSON result to out (or stdout)."""
    text = json.dumps(result, indent=1, sort_keys=True)
    if out:
        with open(out, 'w') as f:
            f.write(text)
    else:
        sys.stdout.write(text + '\n')


def quiet_warnings() -> None:
    """Cinder/eventlet print deprecation warnings on import; benchmarks print tables only."""
    import warnings
    warnings.simplefilter('ignore')
