"""Per-operation time before/after, side by side: this checkout against `git archive REV cinder_nb`.

Runs ``overhead.py --n N`` (memory store; the five operations and the raw driver calls)
in alternating processes (old, new, then new, old, ... for --rounds rounds) in the same
venv, and prints the medians over rounds of each process's median, with new / old overall
and per round. The raw driver rows are the control (both sides run the same driver); the
'/ raw driver' and '/ floor' ratios are taken within each process.

Usage: python bench/ops_ab.py [--rev main] [--rounds 4] [--n 300]
"""
from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import BENCH_DIR, ab_rounds, quiet_warnings, run_json  # noqa: E402
from overhead import OPS  # noqa: E402


def one(env: dict, n: int) -> dict[str, float]:
    over = run_json(env, os.path.join(BENCH_DIR, 'overhead.py'), '--n', str(n))['ops']
    got = {op: over[op]['lib_median_s'] for op in OPS}
    got.update({f'raw driver {op}': over[op]['raw_median_s'] for op in OPS})
    # each process alternates the two sides item by item: its own ratio cancels the drift of
    # the machine between processes, which moves the raw driver's own median by up to 4x here
    got.update({f'{op} / raw driver x': over[op]['lib_median_s'] / over[op]['raw_median_s'] for op in OPS})
    # and the floor side of the same process (run in the sequence, see overhead.py): what the
    # library adds above the state work the floor counts
    got.update({f'{op} / floor x': over[op]['lib_median_s'] / over[op]['floor_median_s']
                for op in OPS if 'floor_median_s' in over[op]})
    return got


def main() -> None:
    quiet_warnings()
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--rev', default='main')
    parser.add_argument('--rounds', type=int, default=4)
    parser.add_argument('--n', type=int, default=300)
    args = parser.parse_args()
    ab_rounds(args.rev, args.rounds, lambda env: one(env, args.n))


if __name__ == '__main__':
    main()
