"""A LocalFileDriver whose snapshots always have 'dependent clones' (test double)."""
from cinder import exception

from cinder_nb.drivers.localfile import LocalFileDriver


class BusySnapshotDriver(LocalFileDriver):
    def delete_snapshot(self, snapshot):
        raise exception.SnapshotIsBusy(snapshot_name=snapshot.name)
