"""No secret in any error: message, args, attributes, __cause__/__context__ chains, tracebacks, logs.

The driver is tests.state.secret_driver.LeakyChapDriver, a real Cinder driver (a
LocalFileDriver subclass) that quotes its password, each volume's CHAP secret and a
connector's auth_password in every place an exception or a log line can carry them.
Each test here failed on main 35c80f7.
"""
from __future__ import annotations

import logging
import traceback

import pytest

import cinder_nb as cnb
from cinder_nb import _runtime

LEAKY = 'tests.state.secret_driver.LeakyChapDriver'
PW = 'Backend-pw-9d2e71'
CONN_PW = 'Conn-pw-55ab0c'


def _everything(exc: BaseException) -> str:
    """All the text an exception carries: formatted traceback (Jupyter saves it in the
    .ipynb), str/repr/args/attributes of it and of every exception chained to it."""
    parts = [''.join(traceback.format_exception(type(exc), exc, exc.__traceback__))]
    seen, todo = set(), [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        parts += [str(e), repr(e), repr(e.args), repr(vars(e))]
        todo += [e.__cause__, e.__context__]
    return '\n'.join(parts)


def _logged(caplog) -> str:
    return '\n'.join(logging.Formatter('%(message)s').format(r)
                     for r in caplog.get_records('setup') + caplog.get_records('call'))


@pytest.fixture
def leaky(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    _runtime.setup({'path': str(tmp_path / 's.db')}, state_dir=str(tmp_path / 'st'))
    backend = cnb.Backend('leaky', volume_driver=LEAKY, local_file_path=str(tmp_path / 'v'),
                          local_file_attach_mode='file', chapfile_password=PW)
    vol = backend.create_volume(1)
    chap = vol.record['driver_data']['provider_auth'].split()[2]
    return backend, vol, [PW, chap, CONN_PW]


def _assert_clean(exc: BaseException, secrets: list[str]) -> None:
    text = _everything(exc)
    leaked = [s for s in secrets if s in text]
    assert not leaked, f'{leaked} in:\n{text}'
    assert exc.__cause__ is None and exc.__context__ is None


def test_driver_failing_to_start_quoting_the_password_gives_a_clean_backend_config_error(tmp_path, caplog):
    _runtime.setup('memory', state_dir=str(tmp_path / 'st'))
    with pytest.raises(cnb.BackendConfigError) as info:
        cnb.Backend('leaky', volume_driver=LEAKY, local_file_path=str(tmp_path / 'v'),
                    chapfile_password=PW, leaky_fail_setup=True)
    _assert_clean(info.value, [PW])
    assert 'login failed' in str(info.value)        # still says what went wrong
    assert PW not in _logged(caplog)


@pytest.mark.parametrize('operation', ['extend', 'snapshot', 'connect'])
def test_driver_errors_carry_no_secret_anywhere(leaky, caplog, operation):
    backend, vol, secrets = leaky
    with pytest.raises(cnb.DriverError) as info:
        if operation == 'extend':
            vol.extend(2)
        elif operation == 'snapshot':
            vol.create_snapshot()
        else:
            vol.connect({'host': 'h', 'fail': True})
    err = info.value
    _assert_clean(err, secrets)
    assert err.cause_type.endswith('VolumeBackendAPIException') and 'failed' in err.cause_message
    # what the resource records and what the log says are clean too
    recorded = [r.get('error') or '' for k in ('volume', 'snapshot', 'connection')
                for r in _runtime.get().persistence.list(k)]
    assert any('failed' in r for r in recorded)
    assert not [s for s in secrets if any(s in r for r in recorded)]
    assert not [s for s in secrets if s in _logged(caplog)]


def test_connector_values_are_masked_in_invalid_argument(leaky):
    backend, vol, secrets = leaky
    bad_connectors = [
        {'host': 'h', 'auth_password': CONN_PW},                   # the driver refuses it
        {'host': 'h', 'auth_password': CONN_PW, 1: 'non-string key'},   # our check refuses it
        {'host': 'h', 'auth_password': CONN_PW, 'x': object()},    # not JSON-able
        {'host': ['h'], 'auth_password': CONN_PW},
    ]
    for connector in bad_connectors:
        for call in (lambda: vol.connect(connector), lambda: backend.validate_connector(connector)):
            with pytest.raises(cnb.InvalidArgument) as info:
                call()
            _assert_clean(info.value, secrets)
            assert 'connector' in str(info.value)
    assert vol.status == 'available' and vol.connections == []


def test_driver_log_text_in_prose_is_masked(leaky, caplog):
    """'chap secret is <new secret>' logged before cinder_nb has seen the secret."""
    backend, vol, secrets = leaky
    text = _logged(caplog)
    assert 'chap secret is ***' in text
    assert not [s for s in secrets if s in text]


def test_oslo_mask_password_also_runs_on_log_text(caplog):
    """Forms only oslo.utils' mask_password knows (XML elements, --password arguments)."""
    from cinder_nb._secrets import SCRUBBER
    SCRUBBER.install()
    log = logging.getLogger('cinder.volume.drivers.fake')
    with caplog.at_level(logging.INFO, logger='cinder.volume.drivers.fake'):
        log.info('request <password>xmlPw4711</password> sent')
        log.info('running cli --password cliPw4711 --user admin')
    assert 'xmlPw4711' not in caplog.text and 'cliPw4711' not in caplog.text
    assert '--user admin' in caplog.text


@pytest.mark.parametrize('name', ['x' * 5000, 'y' * 300 + '\n' + 'z' * 300])
def test_option_messages_cut_long_names_and_values(tmp_path, name):
    _runtime.setup('memory', state_dir=str(tmp_path / 'st'))
    with pytest.raises(cnb.BackendConfigError) as info:
        cnb.Backend('b', local_file_path=str(tmp_path / 'v'), **{name: 1})
    assert len(str(info.value)) < 400
    with pytest.raises(cnb.BackendConfigError) as info:
        cnb.Backend('b', local_file_path=str(tmp_path / 'v'), local_file_attach_mode=name)
    assert len(str(info.value)) < 600


@pytest.mark.parametrize('options, option', [
    ({'local_file_path': 123}, 'local_file_path'),
    ({'local_file_path': ['/tmp/x']}, 'local_file_path'),
    ({'local_file_attach_mode': True}, 'local_file_attach_mode'),
    ({'reserved_percentage': 5.5}, 'reserved_percentage'),
    ({'reserved_percentage': True}, 'reserved_percentage'),
    ({'max_over_subscription_ratio': -2.5}, 'max_over_subscription_ratio'),
    ({'volume_clear_size': 'abc'}, 'volume_clear_size'),
    ({'chapfile_password': 12345678}, 'chapfile_password'),
])
def test_backend_options_are_type_checked_before_the_driver_starts(tmp_path, monkeypatch, options, option):
    """Backend('b', local_file_path=123) made a directory ./123/ on main."""
    _runtime.setup('memory', state_dir=str(tmp_path / 'st'))
    monkeypatch.chdir(tmp_path)
    cfg = {'local_file_path': str(tmp_path / 'v'), 'chapfile_password': PW, **options}
    with pytest.raises(cnb.BackendConfigError) as info:
        cnb.Backend('b', volume_driver=LEAKY, **cfg)
    assert info.value.option == option
    assert sorted(p.name for p in tmp_path.iterdir()) == ['st']     # no ./123/, no volume dir
    assert '12345678' not in str(info.value)
    assert _runtime.get().backends == {}


def test_options_in_their_own_type_or_config_file_text_still_work(tmp_path):
    _runtime.setup('memory', state_dir=str(tmp_path / 'st'))
    b = cnb.Backend('b', local_file_path=str(tmp_path / 'v'), reserved_percentage='5',
                    max_over_subscription_ratio=2.5, volume_clear_size=0)
    pool = b.stats(refresh=True)['pools'][0]
    assert pool['reserved_percentage'] == 5
