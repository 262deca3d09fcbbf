"""LocalFileDriver test doubles for bulk operations (see tests/core/test_bulk.py)."""
import threading

from cinder import exception

from cinder_nb.drivers.localfile import LocalFileDriver


class FailNamedDriver(LocalFileDriver):
    """create_volume fails (quoting a secret) for volumes whose display name is in FAIL_NAMES."""

    FAIL_NAMES: set = set()
    SECRET = 'hunter2-bulk-secret'

    def create_volume(self, volume):
        if volume.display_name in self.FAIL_NAMES:
            raise exception.VolumeBackendAPIException(
                data=f'array refused {volume.display_name} (password={self.SECRET})')
        return super().create_volume(volume)


class BarrierDriver(LocalFileDriver):
    """create_volume waits until BARRIER.parties calls are inside it at the same time: it can
    only succeed when that many driver calls run concurrently (a serializing lock breaks it)."""

    BARRIER = threading.Barrier(4, timeout=30)

    def create_volume(self, volume):
        self.BARRIER.wait()
        return super().create_volume(volume)


class GateDriver(LocalFileDriver):
    """create_volume of any volume but '<prefix>-1' waits until GATE is set (the test sets it
    just before it cancels): what a cancel stops does not depend on thread scheduling."""

    GATE = threading.Event()

    def create_volume(self, volume):
        if not volume.display_name.endswith('-1'):
            assert self.GATE.wait(30), 'the test never opened the gate'
        return super().create_volume(volume)
