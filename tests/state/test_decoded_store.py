"""The memory store keeps records decoded; load(save=True) hands it the parsed records and
sets the live objects' versions; dumps() skips the secret walk of records that cannot hold a
secret. These tests pin what must not change with that: isolation of stored records from
callers and live objects, compare-and-swap versions, and redaction of records with secrets."""
from __future__ import annotations

import datetime
import json

import pytest
from hypothesis import given, settings, strategies as st

import cinder_nb as cnb
from cinder_nb import _runtime, serialization
from cinder_nb._secrets import REDACTED, NotPlain, redact, redact_collect, redact_plain, redacted_paths
from cinder_nb.persistence.base import NEW, StaleRecord, Write
from cinder_nb.persistence.memory import MemoryPersistence

CHAP = 'tests.state.secret_driver.ChapFileDriver'


def _vol(ident: str = 'v1', **extra) -> dict:
    return {'id': ident, 'backend': 'lab', 'size': 1, 'status': 'available', 'name': 'n',
            'driver_data': {'provider_location': '/x'}, 'metadata': {}, **extra}


# ----------------------------------------------------------------------------- isolation
def test_memory_store_never_hands_out_or_keeps_a_callers_dict():
    store = MemoryPersistence()
    given_rec = _vol()
    store.put('volume', given_rec)
    given_rec['driver_data']['provider_location'] = 'changed by the caller after put'
    got = store.get('volume', 'v1')
    assert got['driver_data'] == {'provider_location': '/x'}
    got['driver_data']['provider_location'] = 'changed through get()'
    got['status'] = 'error'
    (listed,) = store.list('volume')
    listed['driver_data']['provider_location'] = 'changed through list()'
    (versioned, version), = store.list_versioned('volume')
    versioned['metadata']['k'] = 'changed through list_versioned()'
    again, again_version = store.get_versioned('volume', 'v1')
    assert again == _vol() and again_version == version
    assert again is not store.get('volume', 'v1')


def test_memory_store_converts_what_json_would():
    store = MemoryPersistence()
    when = datetime.datetime(2026, 1, 2, tzinfo=datetime.timezone.utc)
    store.put('volume', _vol(extra=(1, 2), when=when, nested={'t': ('a',)}))
    got = store.get('volume', 'v1')
    assert got['extra'] == [1, 2] and got['nested'] == {'t': ['a']} and got['when'] == str(when)


def test_compare_and_swap_versions_survive_the_decoded_store():
    store = MemoryPersistence()
    store.adopt_many([('volume', _vol(), 41)])
    assert store.get_versioned('volume', 'v1')[1] == 41
    assert store.commit([Write('volume', 'v1', _vol(status='in-use'), 41)]) == [42]
    try:
        store.commit([Write('volume', 'v1', _vol(status='error'), 41)])
    except StaleRecord:
        pass
    else:
        raise AssertionError('a stale version was accepted')
    assert store.get('volume', 'v1')['status'] == 'in-use'


# ----------------------------------------------------------------------------- load(save=True)
def _state(tmp_path, n: int = 3) -> str:
    _runtime.setup('memory', state_dir=str(tmp_path / 'gen'))
    lab = cnb.embedded(str(tmp_path / 'vols'), name='lab', local_file_attach_mode='file')
    for i in range(n):
        lab.create_volume(1, name=f'v{i}', metadata={'m': str(i)})
    text = cnb.dumps()
    lab.shutdown()
    return text


def test_loaded_objects_share_nothing_with_the_stored_records(tmp_path):
    text = _state(tmp_path)
    _runtime.setup('memory', state_dir=str(tmp_path / 'st'))
    vols = cnb.load(text, save=True)['volumes']
    store = _runtime.get().persistence
    for vol in vols:
        vol.record['driver_data']['provider_location'] = 'changed in place, never saved'
        vol.record['metadata']['m'] = 'changed in place, never saved'
    for vol in vols:
        stored = store.get('volume', vol.id)
        assert stored['driver_data']['provider_location'] != 'changed in place, never saved'
        assert stored['metadata']['m'] != 'changed in place, never saved'
    # and what dumps() writes comes from the store's records, untouched by dumps() itself
    doc = json.loads(cnb.dumps())
    assert all(v['metadata']['m'] != 'changed in place, never saved' for v in doc['volumes'])


def test_load_save_sets_the_stored_versions_on_the_live_objects(tmp_path):
    text = _state(tmp_path)
    _runtime.setup('memory', state_dir=str(tmp_path / 'st'))
    vols = cnb.load(text, save=True)['volumes']
    store = _runtime.get().persistence
    assert all(v.version and v.version == store.get_versioned('volume', v.id)[1] for v in vols)
    vol = vols[0]
    vol.extend(2)       # written at the version load() stored: no re-read, no conflict
    assert store.get('volume', vol.id)['size'] == 2
    assert vol.version == store.get_versioned('volume', vol.id)[1]


# ----------------------------------------------------------------------------- redaction
def test_records_with_secrets_are_still_redacted_and_the_store_is_not_changed(tmp_path):
    _runtime.setup('memory', state_dir=str(tmp_path / 'st'))
    chap = cnb.Backend('chap', volume_driver=CHAP, local_file_path=str(tmp_path / 'chap'), local_file_attach_mode='file',
                       chapfile_password='pw-secret-1')
    vol = chap.create_volume(1, name='c')
    secret = vol.record['driver_data']['provider_auth'].split()[2]
    assert secret != REDACTED
    for _ in range(2):
        text = cnb.dumps()
        assert 'pw-secret-1' not in text and secret not in text
        (rec,) = json.loads(text)['volumes']
        assert rec['driver_data']['provider_auth'] == REDACTED
        assert rec['_redacted'] == ['driver_data.provider_auth']
        assert '_redacted' not in _runtime.get().persistence.get('volume', vol.id)


_KEYS = st.sampled_from(['provider_auth', 'auth_password', 'password', 'provider_location', 'secret_type',
                         'token', 'path', 'name', 'status', 'x'])
_LEAF = st.sampled_from([REDACTED, 'plain', '', None, 1, [REDACTED]])
_VALUE = st.recursive(_LEAF, lambda c: st.dictionaries(_KEYS, c, max_size=3), max_leaves=8)


@st.composite
def _records(draw) -> tuple[str, dict]:
    """(kind, record) whose closed fields hold what the schema lets them hold (a scalar) and
    whose open fields hold any mix of secret-looking keys, placeholders and plain values."""
    kind = draw(st.sampled_from(['volume', 'snapshot', 'connection']))
    fields = draw(st.dictionaries(st.sampled_from(['driver_data', 'metadata', 'connection_info', 'connector',
                                                   'device', 'api_token', 'name', 'status', 'error']),
                                  _VALUE, max_size=5))
    rec = {'id': 'r1', 'backend': 'lab', 'volume_id': 'v1'}
    for key, value in fields.items():
        if not (key in serialization.closed_fields(kind) and isinstance(value, (dict, list))):
            rec[key] = value
    return kind, rec


@settings(max_examples=300, deadline=None)
@given(_records())
def test_secret_paths_agree_with_the_full_walk(kind_rec):
    kind, rec = kind_rec
    assert serialization.secret_paths(kind, rec) == redacted_paths(rec)


@settings(max_examples=300, deadline=None)
@given(_records())
def test_plain_secret_search_agrees_with_redact(kind_rec):
    """load() redacts a record before the store sees it exactly when redact() would change it."""
    kind, rec = kind_rec
    assert serialization.plain_secrets(kind, rec) == (redact(rec) != rec)


@settings(max_examples=300, deadline=None)
@given(_records())
def test_plain_redaction_is_the_full_one_and_shares_nothing(kind_rec):
    """A write's one walk (redact_plain: the copy the memory store keeps without copying it
    again) gives what redact_collect gives, in new dicts and lists."""
    _, rec = kind_rec
    copy, found = redact_plain(rec)
    assert (copy, found) == redact_collect(rec)

    def containers(value, out):
        if isinstance(value, (dict, list)):
            out.append(id(value))
            for item in value.values() if isinstance(value, dict) else value:
                containers(item, out)
        return out
    assert not set(containers(copy, [])) & set(containers(rec, []))


@pytest.mark.parametrize('bad', [{'t': (1, 2)}, {1: 'x'}, {'when': datetime.date(2026, 1, 2)},
                                 {'n': [True, {'deep': (1,)}]}])
def test_plain_redaction_refuses_what_json_would_convert(bad):
    with pytest.raises(NotPlain):
        redact_plain(_vol(extra=bad))


def test_a_written_record_is_the_stores_own_and_converted_when_not_plain():
    """The store keeps an owned write's record as it is, copies any other, and a record
    written through the runtime shares nothing with the live object's (mutating the live
    record's dicts in place leaves the store unchanged); a tuple still becomes a list."""
    store = MemoryPersistence()
    owned, given_rec = _vol('v1'), _vol('v2')
    store.commit([Write('volume', 'v1', owned, NEW, True), Write('volume', 'v2', given_rec, NEW)])
    assert store.scan('volume')[0][0] is owned and store.scan('volume')[1][0] is not given_rec
    cnb.setup('memory')
    vol = cnb.Volume(_vol('v3', backend='lab'))
    _runtime.get().transact(lambda txn: txn.insert(vol, vol.record), vol)
    vol._set(metadata={'k': 'v'}, extra=(1, 2))
    vol.record['metadata']['k'] = 'changed in place'
    vol.record['driver_data']['provider_location'] = 'changed in place'
    stored = _runtime.get().persistence.get('volume', 'v3')
    assert stored['metadata'] == {'k': 'v'} and stored['driver_data'] == {'provider_location': '/x'}
    assert stored['extra'] == [1, 2]


def test_closed_fields_come_from_the_schema():
    assert {'id', 'name', 'status', 'size', 'created_at', 'bootable'} <= serialization.closed_fields('volume')
    for kind in ('volume', 'snapshot', 'connection'):
        assert not {'driver_data', 'metadata', 'connection_info', 'connector', 'device', '_redacted'} & \
            serialization.closed_fields(kind)


def _containers(value, out: list) -> list:
    """Every dict and list inside value (value itself included)."""
    if isinstance(value, (dict, list)):
        out.append(value)
        for item in value.values() if isinstance(value, dict) else value:
            _containers(item, out)
    return out


_FLAT_DICT = st.dictionaries(st.sampled_from(['provider_location', 'provider_id', 'm', 'k']),
                             st.one_of(st.text(max_size=3), st.integers(), st.none()), max_size=2)


@st.composite
def _columns(draw) -> tuple[str, list[dict]]:
    """Records of one kind as load(save=True) may see them: mostly flat open fields (the column-wise
    path), sometimes a secret in clear, a nested value or a _redacted list (the exact path)."""
    kind = draw(st.sampled_from(['volume', 'snapshot', 'connection']))
    recs = []
    for i in range(draw(st.integers(0, 6))):
        rec = {'id': f'r{i}', 'backend': 'lab', 'volume_id': 'v1', 'status': 'available'}
        for key in draw(st.lists(st.sampled_from(['driver_data', 'metadata', 'connector', 'device']), max_size=4)):
            rec[key] = draw(st.one_of(_FLAT_DICT, _VALUE, st.lists(st.text(max_size=2), max_size=2)))
        if draw(st.booleans()):
            rec['_redacted'] = ['driver_data.provider_auth']
        recs.append(rec)
    return kind, recs


@settings(max_examples=300, deadline=None)
@given(_columns())
def test_column_wise_split_agrees_with_the_per_record_one_and_shares_nothing(kind_recs):
    """load(save=True) splits a list of parsed records into (public, full) a field at a time when it
    can: when it answers, it gives what _public and _restore(own=True) give record by record, and
    each full record (the live object's) shares no dict or list with its public one (the store's)."""
    kind, recs = kind_recs
    split = serialization._split_column_wise(kind, recs)
    if split is None:
        assert any(serialization.plain_secrets(kind, r) or r.keys() - serialization.closed_fields(kind) for r in recs)
        return
    assert split == [(serialization._public(kind, r), serialization._restore(kind, r, None, own=True)) for r in recs]
    for (public, full), rec in zip(split, recs):
        assert public is rec and not serialization.plain_secrets(kind, rec)
        shared = {id(c) for c in _containers(public, [])} & {id(c) for c in _containers(full, [])}
        assert not shared


def test_loading_a_state_with_a_secret_in_clear_still_redacts_it_for_the_store(tmp_path):
    """The column-wise split refuses a record holding a secret in clear: the store gets it redacted,
    the live object keeps the value for the driver."""
    text = _state(tmp_path, n=3)
    doc = json.loads(text)
    doc['volumes'][1]['driver_data']['auth_password'] = 'pw-in-clear'
    _runtime.setup('memory', state_dir=str(tmp_path / 'st'))
    vols = cnb.load(json.dumps(doc), save=True)['volumes']
    store = _runtime.get().persistence
    (vol,) = [v for v in vols if v.id == doc['volumes'][1]['id']]
    assert vol.record['driver_data']['auth_password'] == 'pw-in-clear'
    assert store.get('volume', vol.id)['driver_data']['auth_password'] == REDACTED
    assert 'pw-in-clear' not in cnb.dumps()


def test_dumps_orders_records_by_creation_then_id(tmp_path):
    """dumps() sorts by (created_at, id) (now two stable sorts on one key each): records created
    at the same instant come by id, whatever order the store holds them in."""
    doc = json.loads(_state(tmp_path, n=6))
    vols = doc['volumes']
    for v in vols[:4]:
        v['created_at'] = '2026-01-01T00:00:00+00:00'
    vols.reverse()
    _runtime.setup('memory', state_dir=str(tmp_path / 'st'))
    cnb.load(json.dumps(doc), save=True)
    got = [(v['created_at'], v['id']) for v in json.loads(cnb.dumps())['volumes']]
    assert got == sorted((v['created_at'], v['id']) for v in vols)
    assert got != [(v['created_at'], v['id']) for v in vols]
