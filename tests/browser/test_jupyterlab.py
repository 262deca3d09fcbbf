"""A person's path through the notebooks: JupyterLab in Chromium, Run All, the Console's forms and grids.

Starts JupyterLab on 127.0.0.1 (random port, token, a temp copy of notebooks/) and drives it with
Playwright on Debian's Chromium: menus, typed input, clicks, double-clicks, Enter, restart-and-run-all.
Screenshots land in test-artifacts/ (quick start, backend form, the 200-volume Console, a rejected size).
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / 'test-artifacts'
CHROMIUM = '/usr/bin/chromium'
CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
                 '--disable-sync', '--no-first-run']
#: JupyterLab user settings: no news or update prompts over the notebook
LAB_SETTINGS = {'@jupyterlab/apputils-extension/notification.jupyterlab-settings':
                {'fetchNews': 'false', 'checkForUpdates': False}}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@pytest.fixture
def jupyterlab(tmp_path):
    """A JupyterLab server on 127.0.0.1 serving a temp copy of notebooks/; yields (base_url, token)."""
    if not os.path.exists(CHROMIUM):
        pytest.skip(f'{CHROMIUM} missing: apt-get install chromium (Debian package)')
    pytest.importorskip('playwright.sync_api', reason='python playwright not installed')
    with serve(tmp_path) as server:
        yield server


@contextlib.contextmanager
def serve(tmp_path: Path, extra_notebooks: dict[str, str] | None = None):
    """Run JupyterLab on a free 127.0.0.1 port over a copy of notebooks/ (plus extra_notebooks: name -> JSON)."""
    root_dir = tmp_path / 'notebooks'
    shutil.copytree(ROOT / 'notebooks', root_dir)
    for name, text in (extra_notebooks or {}).items():
        (root_dir / name).write_text(text)
    settings = tmp_path / 'lab-settings'
    for name, value in LAB_SETTINGS.items():
        (settings / name).parent.mkdir(parents=True, exist_ok=True)
        (settings / name).write_text(json.dumps(value))
    port, token = _free_port(), secrets.token_hex(16)
    env = dict(os.environ, HOME=str(tmp_path), JUPYTERLAB_SETTINGS_DIR=str(settings),
               JUPYTERLAB_WORKSPACES_DIR=str(tmp_path / 'workspaces'),
               JUPYTER_RUNTIME_DIR=str(tmp_path / 'runtime'), TMPDIR=str(tmp_path))
    cmd = [sys.executable, '-m', 'jupyterlab', '--no-browser', '--ip=127.0.0.1', f'--port={port}',
           f'--IdentityProvider.token={token}', f'--ServerApp.root_dir={root_dir}',
           '--ServerApp.port_retries=0']
    if os.geteuid() == 0:
        cmd.append('--allow-root')
    log = open(tmp_path / 'jupyterlab.log', 'w')
    server = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=str(root_dir))
    base = f'http://127.0.0.1:{port}'
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f'{base}/api/status?token={token}', timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError('JupyterLab did not start:\n' + (tmp_path / 'jupyterlab.log').read_text()[-3000:])
            time.sleep(0.3)
        yield base, token
    finally:
        server.terminate()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def _accept_kernel_dialog(page) -> None:
    """Lab sometimes asks which kernel to start while it still loads the kernel list: take the preferred one."""
    dialog = page.locator('.jp-Dialog', has_text='Select Kernel')
    try:
        dialog.wait_for(state='visible', timeout=3_000)
    except Exception:  # playwright's TimeoutError: no dialog, the kernel started by itself
        return
    dialog.locator('.jp-Dialog-button.jp-mod-accept').click()
    dialog.wait_for(state='detached', timeout=10_000)


def _menu(page, menu: str, item: str) -> None:
    """Open a menu of the menu bar and click an item, as a person would."""
    page.locator('.lm-MenuBar-itemLabel', has_text=menu).first.click()
    page.locator('.lm-Menu-itemLabel', has_text=item).first.click()


def _accept_dialog(page) -> None:
    dialog = page.locator('.jp-Dialog')
    dialog.wait_for(state='visible', timeout=10_000)
    dialog.locator('.jp-Dialog-button.jp-mod-accept').click()
    dialog.wait_for(state='detached', timeout=10_000)


def _open(page, base: str, token: str, name: str):
    """Open a notebook; returns (notebook panel, idle-indicator locator)."""
    page.goto(f'{base}/lab/tree/{name}?token={token}')
    notebook = page.locator('.jp-NotebookPanel:not(.lm-mod-hidden)')
    expect_ = _expect()
    expect_(notebook.locator('.jp-Notebook')).to_be_visible(timeout=60_000)
    idle = page.locator('.jp-Notebook-ExecutionIndicator[data-status="idle"]')
    expect_(idle).to_have_count(1, timeout=60_000)
    _accept_kernel_dialog(page)
    return notebook, idle


def _expect():
    from playwright.sync_api import expect
    return expect


def _errors(notebook) -> list[str]:
    """Tracebacks and error outputs in the notebook's outputs."""
    out = notebook.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')
    texts = [out.nth(i).inner_text() for i in range(out.count())]
    return [t for t in texts if 'Traceback' in t or 'Error' in t] + \
        [notebook.locator('.jp-RenderedText[data-mime-type="application/vnd.jupyter.error"]').nth(i).inner_text()
         for i in range(notebook.locator('.jp-RenderedText[data-mime-type="application/vnd.jupyter.error"]').count())]


def test_quickstart_in_jupyterlab_restart_and_run_all_twice(jupyterlab):
    """Run All, then Restart Kernel and Run All twice: no error, one checkpoint cell, the Console each time.
    Then the form: typed name and size, a new row in the grid; the old Console after a restart says to re-run."""
    from playwright.sync_api import expect, sync_playwright
    base, token = jupyterlab
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / 'jupyterlab-quickstart.png'
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={'width': 1400, 'height': 1100})
            notebook, idle = _open(page, base, token, 'quickstart.ipynb')
            cells = notebook.locator('.jp-Notebook > .jp-Cell')
            n_cells = cells.count()
            console = notebook.locator('.cinder-nb-console')
            checkpoint_cell = notebook.locator('.jp-Cell .cm-content', has_text='%%cinder_checkpoint')

            _menu(page, 'Run', 'Run All Cells')
            for run in range(3):
                if run:
                    _menu(page, 'Kernel', 'Restart Kernel and Run All Cells')
                    _accept_dialog(page)
                expect(console).to_be_visible(timeout=180_000)
                expect(idle).to_have_count(1, timeout=180_000)
                expect(console.locator('.cinder-nb-volumes')).to_contain_text('data-clone', timeout=30_000)
                assert _errors(notebook) == [], f'run {run + 1}: {_errors(notebook)}'
                # the one checkpoint cell holds the state (its text replaced, no cell added)
                expect(checkpoint_cell).to_have_count(1)
                expect(checkpoint_cell).to_contain_text('"format": "cinder_nb.state"')
                assert cells.count() == n_cells, f'run {run + 1} added cells'
                expect(notebook.locator('.jp-Cell', has=page.locator('.cm-content', has_text='%%cinder_checkpoint'))
                       ).to_contain_text('saved into this cell')

            table = console.locator('.cinder-nb-volumes')
            # create a volume through the form
            console.locator('.cinder-nb-create-name input').fill('from-browser')
            console.locator('.cinder-nb-create-size input').fill('3')
            console.locator('button.cinder-nb-create-volume').click()
            row = table.locator('tbody tr', has_text='from-browser')
            expect(row).to_be_visible(timeout=60_000)
            expect(row.locator('td').nth(2)).to_have_text('3')
            expect(row.locator('td').nth(3)).to_have_text('available')
            expect(console.locator('.cinder-nb-message-create-volume .cinder-nb-ok')).to_contain_text(
                'Created volume from-browser (')
            # the new volume is the target of the next operation: picked and highlighted
            expect(console.locator('.cinder-nb-target-volume')).to_contain_text('from-browser')
            expect(row).to_have_class(re.compile('selected'))

            # what a newcomer sees: the operation tabs, the outcome line and the tables below
            console.locator('.cinder-nb-operations').evaluate("e => e.scrollIntoView({block: 'start'})")
            page.wait_for_timeout(300)
            page.screenshot(path=str(shot))

            # the backend form: every Cinder driver listed (embedded first), its own options first
            console.locator('.jupyter-widget-Collapse-header, .lm-Accordion-title, .p-Collapse-header',
                            has_text='Add a backend').first.click()
            form = console.locator('.cinder-nb-backend-form')
            expect(form.locator('.cinder-nb-opt-local_file_path input')).to_be_visible()
            drivers = form.locator('.cinder-nb-driver select option')
            expect(drivers.first).to_have_text(re.compile('^LocalFileDriver'))
            assert drivers.count() > 50
            form.evaluate("e => e.scrollIntoView({block: 'start'})")
            page.wait_for_timeout(300)
            page.screenshot(path=str(ARTIFACTS / 'jupyterlab-backend-form.png'))

            # a kernel restart leaves the old Console dead: it says to run the cell again
            hint = notebook.locator('.cinder-nb-stale-hint')
            expect(hint).to_be_hidden()
            _menu(page, 'Kernel', 'Restart Kernel…')
            _accept_dialog(page)
            expect(hint).to_be_visible(timeout=30_000)
            expect(hint).to_contain_text('Run this cell again')
            hint.evaluate("e => e.scrollIntoView({block: 'center'})")
            page.screenshot(path=str(ARTIFACTS / 'jupyterlab-console-after-restart.png'))
        finally:
            browser.close()
    assert shot.stat().st_size > 10_000
