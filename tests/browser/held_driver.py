"""A real LocalFileDriver whose slow operations wait while a hold file exists (loaded by the browser test).

The Console runs in a JupyterLab kernel, another process than the test: the test holds an operation
by writing ``<local_file_path>/HOLD`` (the operation names to hold, one per line; empty: all of them)
and releases it by removing the file. ``<local_file_path>/HELD`` names the operation being held.
"""
from __future__ import annotations

import os
import time

from cinder_nb.drivers.localfile import LocalFileDriver

#: how long an operation waits at most, so a failed test cannot leave the kernel stuck
LIMIT = 120


class HeldDriver(LocalFileDriver):
    """extend_volume, delete_volume and create_snapshot wait while HOLD names them."""

    def _hold(self, operation: str) -> None:
        hold, held = os.path.join(self.root, 'HOLD'), os.path.join(self.root, 'HELD')
        deadline, told = time.monotonic() + LIMIT, False
        while time.monotonic() < deadline:
            try:
                with open(hold) as f:
                    names = f.read().split()
            except FileNotFoundError:
                break
            if names and operation not in names:
                break
            if not told:
                with open(held, 'w') as f:
                    f.write(operation)
                told = True
            time.sleep(0.05)
        try:
            os.unlink(held)
        except FileNotFoundError:
            pass

    def extend_volume(self, volume, new_size):
        self._hold('extend_volume')
        return super().extend_volume(volume, new_size)

    def delete_volume(self, volume):
        self._hold('delete_volume')
        return super().delete_volume(volume)

    def create_snapshot(self, snapshot):
        self._hold('create_snapshot')
        return super().create_snapshot(snapshot)
