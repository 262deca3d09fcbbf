"""Embedded drivers that lose data on purpose (test doubles): the integrity checks must say FAIL."""
from cinder_nb.drivers.localfile import LocalFileDriver


class LossyCloneDriver(LocalFileDriver):
    """A clone comes out empty: the source's data is silently not copied."""

    def create_cloned_volume(self, volume, src_vref):
        return self.create_volume(volume)


class NoRevertDriver(LocalFileDriver):
    """Like most Cinder drivers: no revert_to_snapshot at all (Cinder then reverts generically)."""

    def __getattribute__(self, name):
        if name == 'revert_to_snapshot':
            raise AttributeError(name)
        return super().__getattribute__(name)


class SlowSnapshotDriver(LocalFileDriver):
    """create_snapshot takes 1.5 s, like an array that answers slowly."""

    def create_snapshot(self, snapshot):
        import time
        time.sleep(1.5)
        return super().create_snapshot(snapshot)
