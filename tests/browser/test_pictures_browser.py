"""The Console's lineage graph and the tqdm progress of fio in JupyterLab + Chromium, with screenshots.

Screenshots: test-artifacts/jupyterlab-lineage.png (the Console's graph after a volume made with the
form) and test-artifacts/jupyterlab-fio-progress.png (a finished fio run's progress bar and its table).
"""
from __future__ import annotations

import os
import shutil

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from tests.browser.test_jupyterlab import (ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, _errors, _menu, _open, serve)

pytestmark = pytest.mark.browser

CELLS = [
    '''import os, tempfile
import cinder_nb as cnb
import cinder_nb.notebook as nb
workdir = tempfile.mkdtemp(prefix='cinder-nb-pictures-')
cnb.setup('memory', state_dir=workdir)
lab = cnb.embedded(os.path.join(workdir, 'vols'), name='lab', local_file_attach_mode='file')
gold = lab.create_volume(1, name='golden')
snap = gold.create_snapshot(name='before')
snap.create_volume(name='restored')
gold.clone(name='twin')''',
    '''console = nb.Console(load_drivers=False)
console''',
    '''df = nb.fio(gold, 'randread', runtime=2, size='32M')
df[['label', 'direction', 'iops', 'bw_mib_s', 'lat_p50_us', 'lat_p99_us']].round(1)''',
]


def test_console_lineage_and_fio_progress_in_jupyterlab(tmp_path):
    if not os.path.exists(CHROMIUM):
        pytest.skip(f'{CHROMIUM} missing: apt-get install chromium (Debian package)')
    if shutil.which('fio') is None:
        pytest.skip('fio is not installed (apt-get install fio)')
    pytest.importorskip('playwright.sync_api', reason='python playwright not installed')
    from playwright.sync_api import expect, sync_playwright
    notebook_json = nbformat.writes(new_notebook(cells=[new_code_cell(c) for c in CELLS], metadata={
        'kernelspec': {'display_name': 'Python 3 (ipykernel)', 'language': 'python', 'name': 'python3'}}))
    ARTIFACTS.mkdir(exist_ok=True)
    with serve(tmp_path, {'pictures.ipynb': notebook_json}) as (base, token), sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={'width': 1400, 'height': 1100})
            notebook, idle = _open(page, base, token, 'pictures.ipynb')
            _menu(page, 'Run', 'Run All Cells')
            console = notebook.locator('.cinder-nb-console')
            expect(console).to_be_visible(timeout=180_000)
            expect(idle).to_have_count(1, timeout=180_000)
            assert _errors(notebook) == []

            # fio's progress bar: a tqdm widget that reached 100 %, and the result table below it
            fio_cell = notebook.locator('.jp-Cell', has=page.locator('.cm-content', has_text='nb.fio(gold'))
            bar = fio_cell.locator('.widget-hprogress, .jupyter-widgets.widget-hprogress').first
            expect(bar).to_be_visible(timeout=30_000)
            expect(fio_cell.locator('.jp-OutputArea')).to_contain_text('100%')
            expect(fio_cell.locator('.jp-OutputArea')).to_contain_text('randread')
            fio_cell.scroll_into_view_if_needed()
            fio_cell.screenshot(path=str(ARTIFACTS / 'jupyterlab-fio-progress.png'))

            # the Console's lineage: an image that is redrawn after an operation made with the form
            image = console.locator('.cinder-nb-lineage img')
            expect(image).to_be_visible(timeout=30_000)
            first_src = image.get_attribute('src')
            box = image.bounding_box()
            assert box and box['width'] > 200 and box['height'] > 100, box
            console.locator('.cinder-nb-create-name input').fill('from-browser')
            console.locator('.cinder-nb-create-size input').fill('2')
            console.locator('button.cinder-nb-create-volume').click()
            expect(console.locator('.cinder-nb-volumes tbody tr', has_text='from-browser')).to_be_visible(timeout=60_000)
            page.wait_for_function('([sel, old]) => { const i = document.querySelector(sel); '
                                   'return i && i.getAttribute("src") !== old; }',
                                   arg=['.cinder-nb-lineage img', first_src], timeout=30_000)
            lineage = console.locator('.cinder-nb-lineage')
            lineage.scroll_into_view_if_needed()
            page.wait_for_timeout(300)
            lineage.screenshot(path=str(ARTIFACTS / 'jupyterlab-lineage.png'))
            natural = image.evaluate('i => [i.naturalWidth, i.naturalHeight]')
            assert natural[0] > 300 and natural[1] > 100, natural
        finally:
            browser.close()
    assert (ARTIFACTS / 'jupyterlab-lineage.png').stat().st_size > 5_000
    assert (ARTIFACTS / 'jupyterlab-fio-progress.png').stat().st_size > 2_000
