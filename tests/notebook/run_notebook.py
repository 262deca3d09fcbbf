"""Execute one notebook headless with nbclient: ``python run_notebook.py IN.ipynb OUT.ipynb WORKDIR``.

Used by test_notebooks.py (also under another user or user namespace, hence a script).
The kernel is this interpreter's 'python3' kernel. Exit status 1 and the failing
cell's error on stderr when a cell fails.
"""
from __future__ import annotations

import sys
import time

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError


def main(src: str, dst: str, workdir: str) -> int:
    notebook = nbformat.read(src, as_version=4)
    client = NotebookClient(notebook, timeout=300, kernel_name='python3', startup_timeout=120,
                            resources={'metadata': {'path': workdir}})
    # on a loaded machine the kernel may need more than jupyter_client's 5 s to exit by itself;
    # killed, it would not run its atexit clean-up (the notebooks remove their temp dirs there)
    client.km = client.create_kernel_manager()
    client.km.shutdown_wait_time = 60
    start = time.monotonic()
    try:
        client.execute()
    except CellExecutionError as exc:
        nbformat.write(notebook, dst)
        print(str(exc)[-4000:], file=sys.stderr)
        return 1
    nbformat.write(notebook, dst)
    print(f'executed {src} in {time.monotonic() - start:.1f} s')
    return 0


if __name__ == '__main__':
    sys.exit(main(*sys.argv[1:4]))
