"""Hostile input: ids that would become paths, crafted state documents, deep nesting.

Each regression test here failed on main 35c80f7 (see docs/reliability.md, "Inputs").
"""
from __future__ import annotations

import copy
import json
import os
from importlib import resources

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import cinder_nb as cnb
from cinder_nb import _cinder, _runtime, _statuses, _validation, serialization
from cinder_nb.errors import InvalidArgument


def _state():
    rt = _runtime.get()
    return (sorted(rt.backends), {k: sorted(v) for k, v in rt.live.items()},
            {k: sorted(r['id'] for r in rt.persistence.list(k))
             for k in ('backend', 'volume', 'snapshot', 'connection')},
            _doc_without_time())


def _doc_without_time() -> dict:
    doc = json.loads(cnb.dumps())
    doc.pop('written_at')
    return doc


@pytest.fixture
def world(tmp_path):
    _runtime.setup({'path': str(tmp_path / 's.db')}, state_dir=str(tmp_path / 'st'))
    lab = cnb.embedded(str(tmp_path / 'vols'), name='lab', local_file_attach_mode='file')
    vol = lab.create_volume(1, name='data', metadata={'m': '1'})
    snap = vol.create_snapshot(name='s')
    conn = vol.connect({'host': 'h9', 'initiator': 'iqn.2004-01.test:h9'})
    yield tmp_path, lab, vol, snap, conn
    conn.disconnect()


# ----------------------------------------------------------------------------- ids
@pytest.mark.parametrize('bad', ['', '.', '..', 'x/../../../victim.txt', '../v', 'a/b', 'a\\b', 'a b',
                                 'x' * 37, 'ü', '-lead', 'a\x00b', 7, 1.5])
def test_create_volume_refuses_ids_outside_the_one_rule(world, bad):
    tmp, lab, *_ = world
    before = _state()
    with pytest.raises(cnb.InvalidArgument, match='id='):
        lab.create_volume(1, id=bad)
    assert _state() == before
    assert sorted(os.listdir(tmp / 'vols' / 'volumes')) == sorted(
        f'volume-{v.id}' for v in lab.volumes)


def test_create_volume_takes_an_id_within_the_rule(world):
    _, lab, *_ = world
    vol = lab.create_volume(1, id='My_vol-1')
    assert vol.id == 'My_vol-1' and vol.status == 'available'
    vol.delete()


def test_crafted_state_id_cannot_make_delete_unlink_outside_the_backend_dir(world):
    """A checkpoint cell passed around a lab with the id 'x/../../../victim.txt'."""
    tmp, lab, vol, *_ = world
    victim = tmp / 'victim.txt'
    victim.write_text('precious')
    # where 'volume-x' happens to be a directory, the kernel resolves the '..'s
    os.makedirs(tmp / 'vols' / 'volumes' / 'volume-x')
    doc = json.loads(vol.dumps())
    doc['snapshots'] = doc['connections'] = []
    doc['volumes'][0].update(id='x/../../../victim.txt', status='available')
    before = _state()
    with pytest.raises(cnb.StateError, match='id'):
        crafted = cnb.load(json.dumps(doc))['volumes'][0]
        crafted.delete()
    assert victim.read_text() == 'precious'
    assert _state() == before


def test_embedded_driver_itself_refuses_names_that_leave_its_dir(world):
    """Defence in depth: a Cinder object built around validation still cannot escape."""
    tmp, lab, vol, *_ = world
    victim = tmp / 'victim.txt'
    victim.write_text('precious')
    os.makedirs(tmp / 'vols' / 'volumes' / 'volume-x')
    rec = dict(vol.record, id='x/../../../victim.txt')
    ovo = _cinder.volume_ovo(rec)
    for call in (lambda: lab.driver.delete_volume(ovo), lambda: lab.driver.extend_volume(ovo, 3),
                 lambda: lab.driver.create_volume(ovo), lambda: lab.driver.initialize_connection(ovo, {})):
        with pytest.raises(_cinder.VolumeBackendAPIException, match='refusing a file name'):
            call()
    assert victim.read_text() == 'precious' and victim.stat().st_size == 8
    # a symlink planted among the volume files does not lead out either
    os.symlink(victim, tmp / 'vols' / 'volumes' / 'volume-link')
    with pytest.raises(_cinder.VolumeBackendAPIException, match='refusing'):
        lab.driver.delete_volume(_cinder.volume_ovo(dict(vol.record, id='link')))
    assert victim.read_text() == 'precious'


# ----------------------------------------------------------------------------- records that wedge
def _wedges(doc: dict) -> list[tuple[str, dict]]:
    out = []

    def case(name, fn):
        d = copy.deepcopy(doc)
        fn(d)
        out.append((name, d))

    case('metadata value a dict', lambda d: d['volumes'][0].update(metadata={'k': {'x': 'y'}}))
    case('admin_metadata value an int', lambda d: d['volumes'][0].update(admin_metadata={'k': 1}))
    case('snapshot metadata value a list', lambda d: d['snapshots'][0].update(metadata={'k': ['x']}))
    case('created_at garbage', lambda d: d['volumes'][0].update(created_at='garbage'))
    case('snapshot updated_at garbage', lambda d: d['snapshots'][0].update(updated_at='31/02/2026'))
    case('provider_location a dict', lambda d: d['volumes'][0]['driver_data'].update(
        provider_location={'x': 1}))
    case('snapshot provider_location a list', lambda d: d['snapshots'][0]['driver_data'].update(
        provider_location=['x']))
    case('size 2**70', lambda d: d['volumes'][0].update(size=2 ** 70))
    case('size past the validation limit', lambda d: d['volumes'][0].update(size=_validation.MAX_SIZE_GIB + 1))
    case('snapshot volume_size 2**70', lambda d: d['snapshots'][0].update(volume_size=2 ** 70))
    case("volume status 'deleted'", lambda d: d['volumes'][0].update(status='deleted'))
    case("snapshot status 'deleted'", lambda d: d['snapshots'][0].update(status='deleted'))
    case("connection status 'deleted'", lambda d: d['connections'][0].update(status='deleted'))
    case('snapshot volume_id path-like', lambda d: d['snapshots'][0].update(volume_id='../x'))
    case('source_volid path-like', lambda d: d['volumes'][0].update(source_volid='a/b'))
    case('empty id', lambda d: d['volumes'][0].update(id=''))
    case('id of 255 characters', lambda d: d['volumes'][0].update(id='a' * 255))
    case('backend name path-like', lambda d: [r.update(backend='../b') for k in ('volumes', 'snapshots',
                                                                              'connections')
                                              for r in d[k]] + [d['backends'][0].update(name='../b')])
    case('connection_info data a string', lambda d: d['connections'][0]['connection_info'].update(data='x'))
    return out


def test_records_that_would_wedge_a_volume_are_refused_and_change_nothing(world):
    tmp, lab, vol, snap, conn = world
    doc = json.loads(cnb.dumps())
    before = _state()
    cases = _wedges(doc)
    accepted = []
    for name, bad in cases:
        try:
            cnb.load(json.dumps(bad), save=True)
        except cnb.StateError as exc:
            assert str(exc) and len(str(exc)) < 1000, name
        else:
            accepted.append(name)
        assert _state() == before, name
    assert accepted == []


@pytest.mark.parametrize('value', [5, 'x', {'a': 1}, [5], True, None])
def test_schema_1_document_with_malformed_lists_is_a_state_error(world, value):
    doc = {'format': 'cinder_nb.state', 'schema': 1, 'backends': [], 'volumes': value,
           'snapshots': value, 'connections': [value]}
    before = _state()
    with pytest.raises(cnb.StateError):
        cnb.load(json.dumps(doc))
    with pytest.raises(cnb.StateError):
        cnb.load(doc)
    assert _state() == before


def _nested_dict(depth: int, leaf=None) -> dict:
    node = leaf if leaf is not None else {}
    for _ in range(depth):
        node = {'k': node}
    return node


@pytest.mark.parametrize('depth', [40, 3000, 100_000])
def test_deeply_nested_documents_are_a_state_error(world, depth):
    tmp, lab, vol, *_ = world
    doc = json.loads(vol.dumps())
    doc['volumes'][0]['driver_data']['provider_id'] = _nested_dict(depth)
    before = _state()
    with pytest.raises(cnb.StateError, match='deeper|JSON'):
        cnb.load(doc)                                  # a dict
    text = ('{"format": "cinder_nb.state", "schema": 2, "volumes": ' + '[' * depth + ']' * depth + '}')
    with pytest.raises(cnb.StateError, match='deeper|JSON'):
        cnb.load(text)                                 # text
    assert _state() == before


@pytest.mark.parametrize('depth', [40, 3000])
def test_deeply_nested_connector_and_metadata_are_invalid_arguments(world, depth):
    tmp, lab, vol, *_ = world
    before = _state()
    with pytest.raises(cnb.InvalidArgument, match='nested deeper'):
        vol.connect({'host': 'h', 'x': _nested_dict(depth)})
    with pytest.raises(cnb.InvalidArgument, match='nested deeper'):
        lab.validate_connector({'host': 'h', 'x': _nested_dict(depth)})
    with pytest.raises(cnb.InvalidArgument):
        lab.create_volume(1, metadata={'m': _nested_dict(depth)})
    assert _state() == before


# ----------------------------------------------------------------------------- the published schema
def test_the_schema_is_shipped_valid_and_agrees_with_the_code():
    text = resources.files('cinder_nb').joinpath('schema/state-v2.json').read_text()
    schema = json.loads(text)
    jsonschema.Draft202012Validator.check_schema(schema)
    assert serialization.json_schema() == schema
    defs = schema['$defs']
    for kind in ('volume', 'snapshot', 'connection'):    # the one vocabulary, in its order
        assert defs[kind]['properties']['status']['enum'] == list(_statuses.stored(kind)), kind
        assert 'deleted' not in _statuses.stored(kind) and 'deleted' in _statuses.BY_KIND[kind]
    assert defs['id']['pattern'] == _validation.RESOURCE_ID.pattern
    assert defs['backend_name']['pattern'] == _validation.BACKEND_NAME.pattern
    assert defs['size_gib']['maximum'] == _validation.MAX_SIZE_GIB
    # the README links it
    readme = open(os.path.join(os.path.dirname(__file__), '..', '..', 'README.md')).read()
    assert 'cinder_nb/schema/state-v2.json' in readme


def test_what_dumps_writes_validates_against_the_published_schema(world):
    jsonschema.validate(json.loads(cnb.dumps()), serialization.json_schema())


# ----------------------------------------------------------------------------- property-based
TRIED = {'documents': 0, 'refused': 0}

_leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False),
                  st.text(max_size=12), st.sampled_from(['available', 'deleted', 'lab', '***', '..', '',
                                                         'x/../../../victim.txt', 'cinder_nb.state']))
_json = st.recursive(_leaf, lambda c: st.one_of(st.lists(c, max_size=3),
                                                st.dictionaries(st.text(max_size=8), c, max_size=3)),
                     max_leaves=12)
_keys = st.sampled_from(['format', 'schema', 'backends', 'volumes', 'snapshots', 'connections', 'written_at',
                         'id', 'size', 'status', 'metadata', 'driver_data', 'connector', 'name', 'backend'])


@st.composite
def _hostile_document(draw, base: dict):
    kind = draw(st.sampled_from(['random', 'top', 'record', 'deep']))
    if kind == 'random':
        return draw(_json)
    doc = copy.deepcopy(base)
    if kind == 'top':
        doc['schema'] = draw(st.sampled_from([1, 2]))
        for key in draw(st.lists(_keys, min_size=1, max_size=3)):
            doc[key] = draw(_json)
        return doc
    lst = draw(st.sampled_from(['volumes', 'snapshots', 'connections', 'backends']))
    if not doc[lst]:
        return doc
    rec = doc[lst][0]
    if kind == 'record':
        for key in draw(st.lists(st.one_of(_keys, st.sampled_from(sorted(rec))), min_size=1, max_size=3)):
            rec[key] = draw(_json)
        return doc
    depth = draw(st.integers(_validation.MAX_DEPTH - 2, 4000))
    key = draw(st.sampled_from(sorted(k for k, v in rec.items() if isinstance(v, dict)) or ['config']))
    rec[key] = _nested_dict(depth, draw(_json))
    return doc


@pytest.fixture(scope='module')
def hostile_base(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('hostile')
    _runtime.setup('memory', state_dir=str(tmp / 'st'))
    lab = cnb.embedded(str(tmp / 'vols'), name='lab', local_file_attach_mode='file')
    vol = lab.create_volume(1, name='v', metadata={'a': 'b'})
    vol.create_snapshot()
    vol.connect({'host': 'h', 'initiator': 'iqn.2004-01.test:h'})
    return str(tmp), json.loads(cnb.dumps())


def _hostile_settings(max_examples: int):
    """Hypothesis settings of the hostile-document tests (their base fixture is slow and
    function-scoped, their documents large)."""
    return settings(max_examples=max_examples, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                           HealthCheck.data_too_large])


def _draw_plain(data, base: dict, dicts_only: bool = True):
    """A hostile document as JSON carries it, or None where parse() refuses it before any
    schema check: too deep, or (``dicts_only``) not an object."""
    doc = data.draw(_hostile_document(base))
    if (dicts_only and not isinstance(doc, dict)) or _validation.depth(doc, _validation.MAX_DEPTH) is None:
        return None
    return json.loads(json.dumps(doc))


@_hostile_settings(1000)
@given(data=st.data())
def test_hostile_documents_give_typed_errors_and_change_nothing(hostile_base, data):
    tmp, base = hostile_base
    _runtime.setup('memory', state_dir=os.path.join(tmp, 'st'))
    lab = cnb.embedded(os.path.join(tmp, 'vols'), name='lab', local_file_attach_mode='file')
    doc = data.draw(_hostile_document(base))
    before = _state()
    files_before = sorted(os.listdir(os.path.join(tmp, 'vols', 'volumes')))
    TRIED['documents'] += 1
    as_text, save = data.draw(st.booleans()), data.draw(st.booleans())
    if as_text:
        try:
            doc = json.dumps(doc)
        except RecursionError:      # too deep for json.dumps itself: give the dict
            pass
    try:
        out = cnb.load(doc, save=save)
    except cnb.CinderNBError as exc:
        TRIED['refused'] += 1
        assert isinstance(str(exc), str)
        assert _state() == before
    else:
        # accepted: every record obeys the schema and became an object that Cinder takes
        jsonschema.validate(serialization.parse(doc), serialization.json_schema())
        for v in out['volumes']:
            assert _validation.RESOURCE_ID.fullmatch(v.id)
            v.ovo()
    assert sorted(os.listdir(os.path.join(tmp, 'vols', 'volumes'))) == files_before
    del lab


def test_report_how_many_hostile_documents_were_tried(capsys):
    """Prints the count (docs/reliability.md quotes it); runs after the property test."""
    with capsys.disabled():
        print(f"\nhostile documents tried: {TRIED['documents']}, refused with a typed error: "
              f"{TRIED['refused']}")


@_hostile_settings(1500)
@given(data=st.data())
def test_fast_schema_check_agrees_with_jsonschema(hostile_base, data):
    """load() checks with the schema compiled by fastjsonschema and asks jsonschema only about a
    rejection: the two must agree on every document, hostile ones included."""
    _tmp, base = hostile_base
    doc = _draw_plain(data, base, dicts_only=False)
    if doc is None:
        return                                   # parse() refuses these before any schema check
    fast = serialization._fast_validator()
    assert fast is not None, 'fastjsonschema is a dependency (pyproject.toml)'
    try:
        fast(doc)
        fast_ok = True
    except Exception:
        fast_ok = False
    reference_ok = next(serialization._validator().iter_errors(doc), None) is None
    assert fast_ok == reference_ok, json.dumps(doc)[:500]


# ----------------------------------------------------------------------------- the fast checks of load()
def _objects_accept(kind: str, rec: dict, vol: dict) -> bool:
    """The reference: build the Cinder object the record becomes for driver calls (what load()
    did per record before its typed checks)."""
    try:
        if kind == 'volume':
            _cinder.volume_ovo(rec)
        else:
            shallow = _cinder.shallow_volume_ovo(vol)
            (_cinder.snapshot_ovo if kind == 'snapshot' else _cinder.attachment_ovo)(rec, shallow)
    except Exception:
        return False
    return True


def _record_checks_pass(kind: str, rec: dict) -> bool:
    """load()'s own per-record checks (timestamps, redacted paths), run before Cinder's types:
    a record they refuse (a snapshot with created_at '', say) never reaches the typed checks."""
    try:
        serialization._check_record(kind, rec, 'x')
    except cnb.StateError:
        return False
    return True


def _typed_checks_accept(kind: str, rec: dict) -> bool:
    try:
        serialization._check_cinder_types(kind, rec, 'x')
    except cnb.StateError:
        return False
    return True


def _schema_valid(doc: dict) -> bool:
    return next(serialization._validator().iter_errors(doc), None) is None


def _field_cases(base: dict) -> list[dict]:
    """Records whose driver-reported or typed fields Cinder's objects may refuse."""
    vol, snap, conn = base['volumes'][0], base['snapshots'][0], base['connections'][0]
    cases = []
    for dd in ({'cluster': None}, {'cluster': 'x'}, {'provider_location': {'x': 1}}, {'provider_id': 5},
               {'provider_auth': ['x']}, {'size': 'big'}, {'size': '3'}, {'snapshots': []},
               {'volume_type': {}}, {'metadata': {'k': 1}}, {'metadata': None}, {'bootable': 'maybe'},
               {'replication_status': 5}, {'shared_targets': 'yes'}, {'id': 7}, {'created_at': 'x'},
               {'attach_status': 'bogus'}, {'volume_attachment': None}, {'glance_metadata': {'a': 'b'}}):
        cases.append(('volume', dict(vol, driver_data=dd)))
        cases.append(('snapshot', dict(snap, driver_data=dd)))
    cases.append(('volume', dict(vol, extra_specs={'a': 'b'}, qos_specs={'c': 'd'})))
    for connector in ({'host': {'x': 1}}, {'host': 5}, {'instance_uuid': 5}, {'instance_uuid': 'not-a-uuid'},
                      {'host': None}, {}):
        cases.append(('connection', dict(conn, connector=connector)))
    for created in ('2026-01-01', '20260101T000000', '2026-01-01T00:00:00Z', None):
        cases.append(('connection', dict(conn, created_at=created)))
    cases.append(('connection', dict(conn, connection_info={'driver_volume_type': 'x', 'data': {'k': [1]}})))
    return cases


def test_typed_checks_agree_with_building_the_objects(hostile_base):
    """load() no longer builds a Cinder object per record: it runs the fields' own setters.
    On every record the schema lets through, both must accept or both refuse."""
    _tmp, base = hostile_base
    vol = base['volumes'][0]
    refused = 0
    for kind, rec in _field_cases(base):
        if not _schema_valid(dict(base, **{serialization._LISTS[kind]: [rec]})) or not _record_checks_pass(kind, rec):
            continue
        want = _objects_accept(kind, rec, vol)
        assert _typed_checks_accept(kind, rec) == want, (kind, rec)
        refused += not want
    assert refused >= 10          # the cases do reach refusals, not only acceptances


@_hostile_settings(300)
@given(data=st.data())
def test_typed_checks_agree_with_building_the_objects_on_hostile_records(hostile_base, data):
    _tmp, base = hostile_base
    doc = _draw_plain(data, base)
    if doc is None:
        return
    if doc.get('schema') != 2 or not _schema_valid(doc):
        return
    vols = {v['id']: v for v in doc.get('volumes', [])}
    for kind, key in serialization._LISTS.items():
        for rec in doc.get(key, []):
            vol = rec if kind == 'volume' else vols.get(rec['volume_id'])
            if vol is None or not _record_checks_pass(kind, rec) or not _record_checks_pass('volume', vol):
                continue        # load() refuses the document before any typed check
            assert _typed_checks_accept(kind, rec) == _objects_accept(kind, rec, vol), (kind, rec)


def _list_cases(base: dict) -> list[tuple[str, list]]:
    """Record lists at the edges of the schema's rules (the column-wise check must not accept
    any the schema refuses)."""
    vol, snap, conn = base['volumes'][0], base['snapshots'][0], base['connections'][0]
    out = []
    for kind, rec in (('volume', vol), ('snapshot', snap), ('connection', conn)):
        for key, value in (('id', 'a\n'), ('id', 'ab\ncd'), ('id', 'a' * 36), ('id', 'a' * 37), ('id', ''),
                           ('id', 5), ('backend', 'lab\n'), ('backend', 'DEFAULT'), ('backend', 'default'),
                           ('backend', 'l' * 64), ('backend', 'l' * 65), ('status', 'deleted'), ('status', None),
                           ('status', ['available']), ('error', 'e' * 65537), ('error', 'e' * 65536),
                           ('created_at', 't' * 65), ('updated_at', 5), ('driver_data', None),
                           ('driver_data', {str(i): i for i in range(101)}), ('_redacted', ['']),
                           ('_redacted', ['x'] * 101), ('_redacted', 'x'), ('name', 'n' * 256),
                           ('name', None), ('description', 'd' * 4097), ('metadata', {'k': 1}),
                           ('metadata', {'k' * 256: 'v'}), ('metadata', {'k': 'v' * 65536}),
                           ('size', 1.0), ('size', True), ('size', 0), ('size', 1048577), ('volume_size', 2.0),
                           ('volume_id', None), ('volume_id', 'x/y'), ('source_volid', 'a\n'),
                           ('snapshot_id', ''), ('pool_name', None), ('multiattach', 1), ('bootable', None),
                           ('qos_specs', []), ('connector', None), ('connector', {str(i): 1 for i in range(201)}),
                           ('attach_mode', 'rx'), ('connection_info', {'data': {}}),
                           ('connection_info', {'driver_volume_type': 5}), ('connection_info', {}),
                           ('connection_info', {'driver_volume_type': 'x', 'data': 'y'}), ('device', 'x'),
                           ('device', None), ('unknown', {'a': [1]})):
            out.append((kind, [rec, dict(rec, **{key: value})]))
        out.append((kind, [{k: v for k, v in rec.items() if k != 'status'}]))
        out.append((kind, [rec] * 2 + [5]))
    return out


def test_column_wise_schema_check_never_accepts_what_the_schema_refuses(hostile_base):
    _tmp, base = hostile_base
    from cinder_nb import _bulk_schema
    for kind, key in serialization._LISTS.items():     # what dumps() writes takes the fast path
        assert _bulk_schema.records_valid(kind, base[key] * 3, serialization._schema_statuses()[kind]), kind
        # ... reading its columns in one pass (the cases below then check that pass too)
        assert _bulk_schema._columns(base[key] * 3, kind) is not None, kind
    accepted = 0
    for kind, recs in _list_cases(base):
        doc = {'format': 'cinder_nb.state', 'schema': 2, serialization._LISTS[kind]: recs}
        if _bulk_schema.records_valid(kind, recs, serialization._schema_statuses()[kind]):
            accepted += 1
            assert _schema_valid(doc), (kind, recs[-1])
    assert accepted > 20           # the edge cases inside the rules are accepted


@_hostile_settings(300)
@given(data=st.data())
def test_column_wise_schema_check_never_accepts_hostile_lists_the_schema_refuses(hostile_base, data):
    _tmp, base = hostile_base
    from cinder_nb import _bulk_schema
    doc = _draw_plain(data, base)
    if doc is None:
        return
    for kind, key in serialization._LISTS.items():
        if key in doc and _bulk_schema.records_valid(kind, doc[key], serialization._schema_statuses()[kind]):
            assert _schema_valid({'format': 'cinder_nb.state', 'schema': 2, key: doc[key]}), doc[key]


def _skips_only_what_passes(recs: list[dict]) -> None:
    """check() runs _check_cinder_types only on the volumes _volumes_needing_type_checks names:
    every volume it leaves out must be one the per-record check accepts."""
    checked = set(serialization._volumes_needing_type_checks(recs))
    for i, rec in enumerate(recs):
        if i not in checked:
            assert _typed_checks_accept('volume', rec), rec


def test_column_wise_type_checks_skip_no_volume_cinder_refuses(hostile_base):
    _tmp, base = hostile_base
    # without metadata or a volume type: only driver_data decides whether a volume is checked
    vol = dict(base['volumes'][0], metadata={}, admin_metadata={}, extra_specs={}, qos_specs={})
    cases = [dict(rec, metadata={}, admin_metadata={}) for kind, rec in _field_cases(dict(base, volumes=[vol]))
             if kind == 'volume']
    cases += [dict(vol, driver_data={'provider_location': v}) for v in (None, 5, 1.5, ['x'], {'x': 1}, 'ok')]
    cases += [dict(vol, driver_data=None), dict(vol, driver_data=[1]), dict(vol, metadata={'k': 1}),
              dict(vol, admin_metadata={'k': 'v'})]
    refused = 0
    for rec in cases:
        _skips_only_what_passes([vol, rec, vol])
        refused += not _typed_checks_accept('volume', rec)
    assert refused >= 5
    # a state with nothing to refuse is checked column-wise: no volume is left for the per-record check
    assert list(serialization._volumes_needing_type_checks([vol] * 3)) == []


@_hostile_settings(300)
@given(data=st.data())
def test_column_wise_type_checks_skip_no_hostile_volume_cinder_refuses(hostile_base, data):
    _tmp, base = hostile_base
    doc = _draw_plain(data, base)
    if doc is None or not isinstance(doc.get('volumes'), list):
        return
    vols = [v for v in doc['volumes'] if isinstance(v, dict) and isinstance(v.get('id'), str)]
    if vols:
        _skips_only_what_passes(vols)


_MAPPING_VALUES = st.one_of(st.text(max_size=3), st.integers(), st.none(), st.lists(st.text(max_size=2), max_size=2),
                            st.dictionaries(st.text(max_size=2), st.text(max_size=2), max_size=2))


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.dictionaries(st.text(max_size=3), _MAPPING_VALUES, max_size=4),
                 st.dictionaries(st.integers(), st.text(max_size=2), max_size=2), st.none(), st.text(max_size=3)))
def test_str_mapping_fast_path_answers_as_the_full_checks(value):
    """str_mapping's shortcut for a flat dict of strings accepts exactly what mapping() and
    the string check accept, and returns a new dict equal to it."""
    def reference(v):
        out = _validation.mapping('m', v)
        for key, item in out.items():
            if not isinstance(item, str):
                raise InvalidArgument(f'm[{key!r}]', item, 'a string value')
        return out
    try:
        expected = reference(value)
    except InvalidArgument:
        with pytest.raises(InvalidArgument):
            _validation.str_mapping('m', value)
        return
    got = _validation.str_mapping('m', value)
    assert got == expected and (value is None or got is not value)
