"""The notebook layer depends on the core, never the reverse."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / 'cinder_nb'


def test_core_modules_do_not_import_the_notebook_layer():
    offenders = []
    for path in PACKAGE.rglob('*.py'):
        if 'notebook' in path.relative_to(PACKAGE).parts:
            continue
        if re.search(r'^\s*(from\s+cinder_nb\.notebook|import\s+cinder_nb\.notebook|from\s+cinder_nb\s+import\s+'
                     r'[^\n]*\bnotebook\b)', path.read_text(), re.MULTILINE):
            offenders.append(str(path))
    assert offenders == []


def test_using_the_core_loads_no_widget_code(tmp_path):
    script = (f"import sys, cinder_nb as cnb; cnb.setup('memory', state_dir={str(tmp_path)!r}); "
              "lab = cnb.embedded(local_file_attach_mode='file'); v = lab.create_volume(1); cnb.dumps(); "
              "print(sorted(m for m in sys.modules if m.startswith(('cinder_nb.notebook', 'ipywidgets'))))")
    out = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == '[]'
