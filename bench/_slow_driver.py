"""A bench-only LocalFileDriver that waits WAIT_S in every volume/snapshot call, like a remote
array answering over the network (the wait releases the GIL, as socket I/O does)."""
import os
import time

from cinder_nb.drivers.localfile import LocalFileDriver

WAIT_S = float(os.environ.get('BENCH_DRIVER_WAIT_S', '0.02'))


class WaitingFileDriver(LocalFileDriver):
    def create_volume(self, volume):
        time.sleep(WAIT_S)
        return super().create_volume(volume)

    def delete_volume(self, volume):
        time.sleep(WAIT_S)
        return super().delete_volume(volume)

    def create_snapshot(self, snapshot):
        time.sleep(WAIT_S)
        return super().create_snapshot(snapshot)

    def delete_snapshot(self, snapshot):
        time.sleep(WAIT_S)
        return super().delete_snapshot(snapshot)
