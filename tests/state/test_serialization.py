"""dumps()/load(): whole state and single objects, schema upgrade, and bad input."""
from __future__ import annotations

import copy
import json
import os

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import cinder_nb as cnb
from cinder_nb import _runtime, serialization
from tests.helpers import read_at, write_at

DATA = os.path.join(os.path.dirname(__file__), 'data')
CHAP = 'tests.state.secret_driver.ChapFileDriver'


def _strip(text: str) -> dict:
    doc = json.loads(text)
    doc.pop('written_at')
    return doc


def _world(tmp_path):
    lab = cnb.embedded(str(tmp_path / 'vols'), name='lab', local_file_attach_mode='file')
    vol = lab.create_volume(1, name='data', extra_specs={'a': 'b'}, metadata={'m': '1'})
    conn = vol.attach()
    write_at(conn.path, 4096, b'persisted bytes')
    vol.detach()
    snap = vol.create_snapshot(name='s')
    clone = vol.clone(name='c')
    remote = clone.connect({'host': 'h9', 'initiator': 'iqn.2004-01.test:h9'})
    return lab, vol, snap, clone, remote


@pytest.mark.parametrize('save', [False, True])
def test_whole_state_round_trips_into_a_fresh_session(tmp_path, save):
    _runtime.setup({'path': str(tmp_path / 'a.db')}, state_dir=str(tmp_path / 'st'))
    lab, vol, snap, clone, remote = _world(tmp_path)
    text = cnb.dumps()
    _runtime.setup({'path': str(tmp_path / 'b.db')}, state_dir=str(tmp_path / 'st'))
    out = cnb.load(text, save=save)
    assert [b.name for b in out['backends']] == ['lab']
    assert {v.id for v in out['volumes']} == {vol.id, clone.id}
    lab2 = _runtime.get().backends['lab']
    # loaded objects are visible through the normal API whether saved or not
    assert {v.id for v in lab2.volumes} == {vol.id, clone.id}
    assert [s.id for s in _runtime.get().get('volume', vol.id).snapshots] == [snap.id]
    assert [c.id for c in _runtime.get().get('volume', clone.id).connections] == [remote.id]
    stored = {r['id'] for r in _runtime.get().persistence.list('volume')}
    assert stored == ({vol.id, clone.id} if save else set())
    assert _strip(cnb.dumps()) == _strip(text)
    # and they work: the data is there, operations go on
    vol2 = _runtime.get().get('volume', vol.id)
    c = vol2.attach()
    assert read_at(c.path, 4096, 15) == b'persisted bytes'
    vol2.detach()
    vol2.extend(2)
    assert _runtime.get().persistence.get('volume', vol.id)['size'] == 2
    _runtime.get().get('connection', remote.id).disconnect()
    assert clone.id in {v.id for v in lab2.volumes}


def test_each_class_dumps_and_loads_itself(tmp_path):
    _runtime.setup('memory', state_dir=str(tmp_path / 'st'))
    lab, vol, snap, clone, remote = _world(tmp_path)
    texts = {'backend': lab.dumps(), 'volume': vol.dumps(), 'snapshot': snap.dumps(),
             'connection': remote.dumps()}
    assert [v['id'] for v in json.loads(texts['volume'])['volumes']] == [vol.id]
    assert [v['id'] for v in json.loads(texts['snapshot'])['volumes']] == [vol.id]
    for kind, cls, obj in [('volume', cnb.Volume, vol), ('snapshot', cnb.Snapshot, snap),
                           ('connection', cnb.Connection, remote), ('backend', cnb.Backend, lab)]:
        _runtime.setup('memory', state_dir=str(tmp_path / 'st'))
        loaded = cls.load(texts[kind])
        assert isinstance(loaded, cls) and loaded.id == obj.id
        again = loaded.dumps()
        assert _strip(again) == _strip(texts[kind])
    with pytest.raises(cnb.StateError, match='holds 2 volumes, not one'):
        cnb.Volume.load(texts['backend'])


def test_load_into_the_same_session_keeps_objects_and_is_idempotent(tmp_path):
    _runtime.setup('memory', state_dir=str(tmp_path / 'st'))
    lab, vol, *_ = _world(tmp_path)
    text = cnb.dumps()
    out = cnb.load(text)
    assert any(v is vol for v in out['volumes'])
    assert _strip(cnb.dumps()) == _strip(text)


def test_schema_1_fixture_is_upgraded(tmp_path):
    """state-v1.json was written by schema-1 cinder_nb (the project's first commit)."""
    with open(os.path.join(DATA, 'state-v1.json')) as f:
        text = f.read().replace('/tmp/cinder_nb-v1-fixture', str(tmp_path))
    v1 = json.loads(text)
    assert v1['schema'] == 1 and v1['backends'][0]['config']['chapfile_password'] == '***'
    doc = serialization.parse(copy.deepcopy(v1))
    assert doc['schema'] == 2
    cfg = doc['backends'][0]['config']
    assert 'chapfile_password' not in cfg and cfg['chapfile_user'] == '***'   # a real value stays
    vols = {v['name']: v for v in doc['volumes']}
    assert vols['gold']['_redacted'] == ['driver_data.provider_auth']
    assert vols['***']['_redacted'] == ['driver_data.provider_auth']            # a name is data
    assert sorted(doc['connections'][0]['_redacted']) == [
        'connection_info.data.auth_password', 'connection_info.data.discovery_auth_password']
    _runtime.setup('memory', state_dir=str(tmp_path / 'st'))
    with pytest.raises(cnb.MissingSecret, match='chapfile_password'):
        cnb.load(text)
    out = cnb.load(text, secrets={'chap': {'chapfile_password': 'pw-for-v1'}})
    backend = out['backends'][0]
    assert backend.given_options()['chapfile_user'] == '***'          # schema-1 loading used to drop it
    assert backend.driver.configuration.chapfile_password == 'pw-for-v1'
    gold = next(v for v in out['volumes'] if v.name == 'gold')
    assert gold.extra_specs == {'thin': 'true'} and gold.qos_specs == {'total_iops_sec': '500'}
    assert [s.name for s in gold.snapshots] == ['before']
    assert json.loads(cnb.dumps())['schema'] == serialization.SCHEMA_VERSION == 2


def test_newer_schema_is_refused_clearly(tmp_path):
    _runtime.setup('memory', state_dir=str(tmp_path / 'st'))
    doc = {'format': 'cinder_nb.state', 'schema': 3, 'backends': []}
    with pytest.raises(cnb.StateError, match='schema 3 is newer than this cinder_nb understands'):
        cnb.load(json.dumps(doc))


# ----------------------------------------------------------------------------- bad input
def _mutations(doc: dict, tmp_path) -> list[tuple[str, object, type]]:
    vol = doc['volumes'][0]
    cases = []

    def case(name, fn, err=cnb.StateError):
        d = copy.deepcopy(doc)
        fn(d)
        cases.append((name, d, err))

    cases.append(('not json', '{"format": "cinder_nb.state", ', cnb.StateError))
    cases.append(('a list', '[]', cnb.StateError))
    cases.append(('not text', 12, cnb.StateError))
    case('wrong format', lambda d: d.update(format='other'))
    case('schema as string', lambda d: d.update(schema='2'))
    case('schema 0', lambda d: d.update(schema=0))
    case('volumes not a list', lambda d: d.update(volumes={}))
    case('size as string', lambda d: d['volumes'][0].update(size='1'))
    case('size as bool', lambda d: d['volumes'][0].update(size=True))
    case('size zero', lambda d: d['volumes'][0].update(size=0))
    case('missing status', lambda d: d['volumes'][0].pop('status'))
    case('unknown status', lambda d: d['volumes'][0].update(status='melted'))
    case('metadata not a dict', lambda d: d['volumes'][0].update(metadata=['x']))
    case('extra spec not a string', lambda d: d['volumes'][0]['extra_specs'].update(a=1))
    case('multiattach not bool', lambda d: d['volumes'][0].update(multiattach='yes'))
    case('snapshot volume_size string', lambda d: d['snapshots'][0].update(volume_size='1'))
    case('connection connector string', lambda d: d['connections'][0].update(connector='h'))
    case('connection bad attach mode', lambda d: d['connections'][0].update(attach_mode='rx'))
    case('connection info without type', lambda d: d['connections'][0].update(connection_info={'data': {}}))
    case('unknown backend', lambda d: [r.update(backend='nope') for r in d['volumes']])
    case('snapshot of unknown volume', lambda d: d['snapshots'][0].update(volume_id='nope'))
    case('duplicate volume id', lambda d: d['volumes'].append(copy.deepcopy(vol)))
    case('duplicate backend', lambda d: d['backends'].append(copy.deepcopy(d['backends'][0])))
    case('backend without driver', lambda d: d['backends'][0].pop('volume_driver'))
    case('redacted path that is not secret', lambda d: d['volumes'][0].update(_redacted=['name']))
    case('unknown top-level field', lambda d: d.update(extra=1))
    case('unknown driver', lambda d: d['backends'][0].update(volume_driver='no.such.Driver'),
         cnb.CinderNBError)
    case('bad driver option', lambda d: d['backends'][0]['config'].update(local_file_attach_mode='laser'),
         cnb.BackendConfigError)
    case('different config of a loaded backend', lambda d: d['backends'][0]['config'].update(
        local_file_path=str(tmp_path / 'elsewhere')), cnb.BackendConfigError)
    return cases


def _snapshot_state():
    rt = _runtime.get()
    return (sorted(rt.backends), {k: sorted(v) for k, v in rt.live.items()},
            {k: sorted(r['id'] for r in rt.persistence.list(k)) for k in ('backend', 'volume', 'snapshot',
                                                                           'connection')},
            _strip(cnb.dumps()))


def test_every_kind_of_bad_input_is_a_typed_error_and_changes_nothing(tmp_path):
    _runtime.setup({'path': str(tmp_path / 's.db')}, state_dir=str(tmp_path / 'st'))
    _world(tmp_path)
    doc = json.loads(cnb.dumps())
    before = _snapshot_state()
    cases = _mutations(doc, tmp_path)
    assert len(cases) >= 25
    for name, bad, err in cases:
        text = bad if isinstance(bad, (str, int)) else json.dumps(bad)
        with pytest.raises(err) as info:
            cnb.load(text, save=True)
        assert str(info.value), name
        assert _snapshot_state() == before, name


def test_failed_load_into_a_fresh_session_leaves_no_backend_behind(tmp_path):
    _runtime.setup('memory', state_dir=str(tmp_path / 'st'))
    _world(tmp_path)
    doc = json.loads(cnb.dumps())
    doc['backends'].append({'name': 'second', 'volume_driver': 'no.such.Driver', 'config': {},
                            'secret_options': []})
    _runtime.setup('memory', state_dir=str(tmp_path / 'st'))
    with pytest.raises(cnb.CinderNBError):
        cnb.load(json.dumps(doc), save=True)
    rt = _runtime.get()
    assert rt.backends == {} and rt.persistence.list('backend') == [] and rt.persistence.list('volume') == []


def test_load_refuses_an_id_that_is_another_resource_here(tmp_path):
    _runtime.setup('memory', state_dir=str(tmp_path / 'st'))
    lab, vol, snap, clone, remote = _world(tmp_path)
    doc = json.loads(snap.dumps())
    doc['snapshots'][0]['volume_id'] = clone.id
    doc['volumes'] = [json.loads(clone.dumps())['volumes'][0]]
    with pytest.raises(cnb.StateError, match='volume_id'):
        cnb.load(json.dumps(doc))


# ----------------------------------------------------------------------------- property-based
_json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.text(max_size=4),
                       st.sampled_from(['available', 'lab', '***', 'rw']))
_json_any = st.recursive(_json_leaf, lambda c: st.one_of(st.lists(c, max_size=2),
                                                          st.dictionaries(st.text(max_size=3), c, max_size=2)),
                         max_leaves=4)


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, prefix + (i,))


@pytest.fixture(scope='module')
def base_state(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('prop')
    _runtime.setup('memory', state_dir=str(tmp / 'st'))
    _world(tmp)
    return str(tmp), cnb.dumps()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_states_load_cleanly_or_fail_typed_without_changes(base_state, data):
    tmp, text = base_state
    _runtime.setup('memory', state_dir=os.path.join(tmp, 'st'))
    cnb.embedded(os.path.join(tmp, 'vols'), name='lab', local_file_attach_mode='file')
    doc = json.loads(text)
    paths = [p for p in _paths(doc) if p]
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(paths))
        parent = doc
        try:
            for key in path[:-1]:
                parent = parent[key]
            action = data.draw(st.sampled_from(['replace', 'delete', 'duplicate']))
            if action == 'replace':
                parent[path[-1]] = data.draw(_json_any)
            elif action == 'delete':
                del parent[path[-1]]
            elif isinstance(parent, list):
                parent.append(copy.deepcopy(parent[path[-1]]))
        except (KeyError, IndexError, TypeError):
            continue
    before = _snapshot_state()
    try:
        out = cnb.load(json.dumps(doc))
    except cnb.CinderNBError:
        assert _snapshot_state() == before
        return
    # accepted: what was loaded is what the (checked) document says
    assert sorted(v.id for v in out['volumes']) == sorted(v['id'] for v in doc['volumes'])
    cnb.dumps()


@pytest.mark.parametrize('store', ['memory', 'sqlite'])
def test_dumps_without_the_redacted_path_search_is_the_same_text(tmp_path, store):
    """dumps() skips the record-by-record search for redacted paths when its text holds no
    "***" anywhere (_dumps_unredacted): its text must be the full walk's (encode(state_dict())),
    and a state that does hold "***" (a CHAP secret, or only a name that reads so) must go
    through the walk and keep its _redacted lists."""
    _runtime.setup('memory' if store == 'memory' else {'path': str(tmp_path / 's.db')},
                   state_dir=str(tmp_path / 'st'))

    def same() -> str:
        fast, full = json.loads(cnb.dumps()), json.loads(serialization.encode(serialization.state_dict()))
        fast.pop('written_at'), full.pop('written_at')
        assert fast == full
        return json.dumps(fast)

    _world(tmp_path)
    assert serialization._dumps_unredacted(None) is not None      # nothing redacted: no search
    assert '_redacted' not in same()
    lab = _runtime.get().backends['lab']
    lab.create_volume(1, name='***')                               # data, not a secret
    assert serialization._dumps_unredacted(None) is None
    assert '_redacted' not in same()
    chap = cnb.Backend('chap', volume_driver=CHAP, local_file_path=str(tmp_path / 'v1'),
                       local_file_attach_mode='file', chapfile_password='pw-7f3a9c')
    vol = chap.create_volume(1, name='secretive')
    vol.connect({'host': 'h1', 'initiator': 'iqn.1993-08.org.debian:01:test'})
    doc = json.loads(same())
    assert 'pw-7f3a9c' not in json.dumps(doc)
    assert [v['_redacted'] for v in doc['volumes'] if v['id'] == vol.id] == [['driver_data.provider_auth']]
    assert all('_redacted' in c for c in doc['connections'] if c['volume_id'] == vol.id)
