"""Click to refreshed grid in the notebook Console, in JupyterLab + Chromium, at 100, 1,000 and 10,000 volumes.

For each size: a notebook makes N volumes on the embedded driver and shows the Console (up to 300 through
the driver one by one; above, tests/browser/scale_state.py makes the first through the driver and the rest
as the driver would, sparse files, loaded as a saved state: creating 10k one by one takes hours);
then, as a student would:
- create: a name and a size typed, "Create volume" clicked; timed from the click until the new row shows
  in the Volumes grid (browser -> kernel -> driver -> state -> grid page -> redraw);
- extend: the picked volume's new size typed, "Extend" clicked; until its row shows the new size;
- pick: a row clicked until the target line names it;
- search: a name typed in the grid's search box until the grid says it is filtered.
Run: .venv/bin/python bench/console_refresh.py [N ...]   (needs /usr/bin/chromium and playwright)
"""
from __future__ import annotations

import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.browser.test_jupyterlab import (CHROMIUM, CHROMIUM_ARGS, create_and_time, open_console,  # noqa: E402
                                           scale_notebook, serve)

REPEAT = 5


def measure(n: int) -> dict:
    from playwright.sync_api import expect, sync_playwright
    tmp = Path(tempfile.mkdtemp(prefix=f'cinder-nb-bench-console-{n}-'))
    with serve(tmp, {'scale.ipynb': scale_notebook(n)}) as (base, token), sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={'width': 1400, 'height': 1100})
            start = time.perf_counter()
            _nb, console = open_console(page, base, token, 'scale.ipynb')
            opened = time.perf_counter() - start
            creates = [create_and_time(page, console, f'bench-{i}') for i in range(REPEAT)]
            grid = console.locator('.cinder-nb-volumes')
            target = console.locator('.cinder-nb-target-volume')
            picks, searches, extends = [], [], []
            for i in range(REPEAT):
                row = grid.locator('tbody tr').nth(i + 6)
                name = row.locator('td').first.inner_text()
                t0 = time.perf_counter()
                row.click()
                expect(target).to_contain_text(name)
                picks.append(time.perf_counter() - t0)
                page.wait_for_timeout(600)                       # past the double-click window
                console.locator('.cinder-nb-extend-size input').fill('5')
                t0 = time.perf_counter()
                console.locator('button.cinder-nb-extend').click()
                expect(grid.locator('tbody tr.selected td').nth(2)).to_have_text('5', timeout=60_000)
                extends.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                grid.locator('.cinder-nb-grid-search').fill(f'bench-{i}')
                expect(grid.locator('.cinder-nb-grid-info')).to_contain_text('filtered')
                searches.append(time.perf_counter() - t0)
                grid.locator('.cinder-nb-grid-search').fill('')
                expect(grid.locator('.cinder-nb-grid-info')).not_to_contain_text('filtered')
        finally:
            browser.close()
    shutil.rmtree(tmp, ignore_errors=True)     # the kernel's volumes (sparse files) live under it
    return {'volumes': n, 'open': opened, 'create': creates, 'extend': extends, 'pick': picks, 'search': searches}


def main(sizes: list[int]) -> None:
    rows = [measure(n) for n in sizes]
    print(f'Console in JupyterLab + Chromium, {REPEAT} tries each (seconds; median / max)')
    print('| volumes | Run All to Console | click Create -> new row | click Extend -> new size | '
          'row click -> target | search -> filtered |')
    print('|---:|---:|---:|---:|---:|---:|')
    for r in rows:
        cell = lambda xs: f'{statistics.median(xs):.2f} / {max(xs):.2f}'  # noqa: E731
        print(f"| {r['volumes']:,} | {r['open']:.1f} | {cell(r['create'])} | {cell(r['extend'])} | "
              f"{cell(r['pick'])} | {cell(r['search'])} |", flush=True)


if __name__ == '__main__':
    main([int(a) for a in sys.argv[1:]] or [100, 1000, 10000])
