"""Test-only Cinder drivers with real secrets: subclasses of our LocalFileDriver.

``ChapFileDriver`` behaves like an iSCSI driver with CHAP: it needs a secret
backend option (``chapfile_password``, oslo.config ``secret=True``), gives each
volume a generated ``provider_auth`` (``CHAP <user> <password>``) and answers
``initialize_connection`` with iSCSI connection data holding ``auth_password``
and ``discovery_auth_password``; with ``chapfile_protocol='rbd'`` it answers like
Cinder's RBD driver with a Ceph ``keyring`` in the connection data. It logs every
secret it handles (as careless drivers do) so the log scrubber can be tested.
"""
from __future__ import annotations

import base64
import secrets as pysecrets

from oslo_config import cfg
from oslo_log import log as logging

from cinder_nb import _cinder
from cinder_nb.drivers.localfile import LocalFileDriver

LOG = logging.getLogger(__name__)

chap_opts = [
    cfg.StrOpt('chapfile_password', secret=True, help='Discovery CHAP secret of the test target.'),
    cfg.StrOpt('chapfile_user', default='cnbuser', help='CHAP user name.'),
    cfg.StrOpt('chapfile_protocol', default='iscsi', choices=['iscsi', 'rbd'],
               help='Which kind of connection data to hand out.'),
]
_cinder.CONF.register_opts(chap_opts, group=_cinder.SHARED_GROUP)


@_cinder.volumedriver
class ChapFileDriver(LocalFileDriver):
    """LocalFileDriver with iSCSI-CHAP (or RBD-keyring) style credentials."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.configuration.append_config_values(chap_opts)

    @staticmethod
    def get_driver_options():
        return LocalFileDriver.get_driver_options() + chap_opts

    def do_setup(self, context):
        password = self.configuration.chapfile_password
        if not password:
            raise _cinder.VolumeBackendAPIException(data='chapfile_password is required')
        LOG.info('ChapFileDriver starting with discovery password %s', password)
        super().do_setup(context)

    def create_volume(self, volume):
        model = super().create_volume(volume)
        secret = pysecrets.token_hex(12)
        model['provider_auth'] = f'CHAP {self.configuration.chapfile_user} {secret}'
        LOG.info('created %s with provider_auth=%s', volume.id, model['provider_auth'])
        return model

    def create_cloned_volume(self, volume, src_vref):
        model = super().create_cloned_volume(volume, src_vref)
        model['provider_auth'] = f'CHAP {self.configuration.chapfile_user} {pysecrets.token_hex(12)}'
        return model

    def create_volume_from_snapshot(self, volume, snapshot):
        model = super().create_volume_from_snapshot(volume, snapshot)
        model['provider_auth'] = f'CHAP {self.configuration.chapfile_user} {pysecrets.token_hex(12)}'
        return model

    def initialize_connection(self, volume, connector, initiator_data=None):
        if self.configuration.chapfile_protocol == 'rbd':
            key = base64.b64encode(b'\x01\x00' + pysecrets.token_bytes(26)).decode()
            keyring = f'[client.cinder]\n\tkey = {key}\n'
            LOG.debug('rbd connection for %s with keyring %r', volume.id, keyring)
            return {'driver_volume_type': 'rbd',
                    'data': {'name': f'volumes/volume-{volume.id}', 'hosts': ['127.0.0.1'],
                             'ports': ['6789'], 'cluster_name': 'ceph', 'auth_enabled': True,
                             'auth_username': 'cinder', 'secret_type': 'ceph', 'secret_uuid': None,
                             'volume_id': volume.id, 'discard': True, 'keyring': keyring}}
        method, user, password = volume.provider_auth.split(' ', 2)
        data = {'target_discovered': False, 'target_portal': '127.0.0.1:3260',
                'target_iqn': f'iqn.2010-10.org.openstack:volume-{volume.id}', 'target_lun': 0,
                'volume_id': volume.id, 'auth_method': method, 'auth_username': user,
                'auth_password': password, 'discovery_auth_method': 'CHAP',
                'discovery_auth_username': self.configuration.chapfile_user,
                'discovery_auth_password': self.configuration.chapfile_password}
        LOG.debug('iscsi connection info %s', data)
        return {'driver_volume_type': 'iscsi', 'data': data}


leak_opts = [
    cfg.BoolOpt('leaky_fail_setup', default=False,
                help='do_setup fails quoting the password (message, args and a chained cause).'),
]
_cinder.CONF.register_opts(leak_opts, group=_cinder.SHARED_GROUP)


class LeakyError(Exception):
    """An exception that keeps secrets in its args and attributes, as careless SDKs do."""

    def __init__(self, message, *secrets):
        super().__init__(message, *secrets)
        self.secrets = secrets


@_cinder.volumedriver
class LeakyChapDriver(ChapFileDriver):
    """ChapFileDriver that puts its secrets in every place an error or a log line can carry them.

    Secrets it leaks: the backend's ``chapfile_password``, each volume's CHAP secret (from
    ``provider_auth``) and a connector's ``auth_password``. Places: exception messages,
    exception args, attributes, ``__cause__`` and ``__context__`` chains, and log text in
    prose ("chap secret is ...") that names no key a scrubber could recognise.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.configuration.append_config_values(leak_opts)

    @staticmethod
    def get_driver_options():
        return ChapFileDriver.get_driver_options() + leak_opts

    def _fail(self, what: str, *secrets: str):
        """Raise a Cinder exception quoting secrets, caused by and in the context of others."""
        try:
            try:
                raise KeyError(f'session token {secrets[0]}')
            except KeyError:
                raise LeakyError(f'{what}: array answered 401 for password {secrets[0]}', *secrets)  # noqa: B904  (the chained KeyError is the point)
        except LeakyError as exc:
            raise _cinder.VolumeBackendAPIException(
                data=f'{what} failed, credentials used: {" ".join(secrets)}') from exc

    def do_setup(self, context):
        if self.configuration.leaky_fail_setup:
            self._fail('login', self.configuration.chapfile_password)
        super().do_setup(context)

    def create_volume(self, volume):
        model = super().create_volume(volume)
        LOG.debug('chap secret is %s', model['provider_auth'].split()[2])
        return model

    def extend_volume(self, volume, new_size):
        self._fail('extend', self.configuration.chapfile_password, volume.provider_auth.split()[2])

    def create_snapshot(self, snapshot):
        self._fail('snapshot', snapshot.volume.provider_auth.split()[2])

    def validate_connector(self, connector):
        if connector.get('auth_password'):
            raise _cinder.InvalidConnectorException(missing=f'support for connector {connector}')
        super().validate_connector(connector)

    def initialize_connection(self, volume, connector, initiator_data=None):
        if connector.get('fail'):
            self._fail('export', self.configuration.chapfile_password, volume.provider_auth.split()[2])
        return super().initialize_connection(volume, connector, initiator_data)
