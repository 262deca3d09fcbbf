"""A LocalFileDriver that exports through Cinder's own iSCSI target code (test double).

Its connections follow the LVM driver's contract exactly: ``create_export`` asks a real
Cinder target class (``cinder.volume.targets.fake.FakeTarget``, an ``ISCSITarget`` that
configures no kernel target) for the export and returns ``provider_location`` and
``provider_auth``; ``initialize_connection`` is ``ISCSITarget.initialize_connection``, which
parses ``volume.provider_location``. So a caller that hands the driver a volume without the
export's model update fails as LVM+LIO did ("'NoneType' object has no attribute 'split'").
"""
from cinder.volume.targets.fake import FakeTarget

from cinder_nb.drivers.localfile import LocalFileDriver


class ExportingDriver(LocalFileDriver):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.target_driver = FakeTarget(configuration=self.configuration, executor=self._execute)

    def create_export(self, context, volume, connector):
        info = self.target_driver.create_export(context, volume, self._volume_path(volume))
        return {'provider_location': info['location'], 'provider_auth': info['auth']}

    def remove_export(self, context, volume):
        self.target_driver.remove_export(context, volume)

    def initialize_connection(self, volume, connector, initiator_data=None):
        return self.target_driver.initialize_connection(volume, connector)

    def terminate_connection(self, volume, connector, **kwargs):
        self.target_driver.terminate_connection(volume, connector, **kwargs)
