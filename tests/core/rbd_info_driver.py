"""A LocalFileDriver whose connections are RBD ones (test double for the attach-method choice).

``initialize_connection`` returns what Cinder's RBDDriver returns (protocol 'rbd', pool/image
name, monitors, user and a cephx keyring); there is no cluster behind it, so only the choice
of the local attach method, made before any connector runs, can be tested with it.
"""
from cinder_nb.drivers.localfile import LocalFileDriver

#: a made-up cephx key the connection info carries
KEY = 'AQBkZm9vYmFyYmF6cXV4cXV1eHF1dXhxdXV4eHg9PQ=='


class RBDInfoDriver(LocalFileDriver):
    def initialize_connection(self, volume, connector, initiator_data=None):
        return {'driver_volume_type': 'rbd',
                'data': {'name': f'volumes/volume-{volume.id}', 'hosts': ['127.0.0.1'], 'ports': ['6789'],
                         'cluster_name': 'ceph', 'auth_enabled': True, 'auth_username': 'cinder',
                         'secret_type': 'ceph', 'secret_uuid': None, 'volume_id': volume.id,
                         'keyring': f'[client.cinder]\n\tkey = {KEY}\n'}}
