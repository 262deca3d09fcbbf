"""The embedded driver reporting itself as iSCSI (test double): what a connector must carry then."""
from cinder_nb.drivers.localfile import LocalFileDriver


class ISCSIReportingDriver(LocalFileDriver):
    def _update_volume_stats(self):
        super()._update_volume_stats()
        self._stats['storage_protocol'] = 'iSCSI'
