"""cinder_nb._jsonread reads JSON text as json.loads does (orjson only where it gives the same):
same values and types, the same errors, parse_constant asked as json.loads asks it; and a
state document parses (serialization.parse) to what json.loads would make of it."""
from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings, strategies as st

from cinder_nb import _jsonread, serialization
from cinder_nb.errors import StateError


def _same(a, b) -> bool:
    """Equal with equal types all the way down (1 == 1.0 == True would hide a float read for an int)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    return a == b


def _outcome(fn, text):
    try:
        return 'value', fn(text)
    except (ValueError, RecursionError) as exc:   # JSONDecodeError, UnicodeDecodeError: ValueErrors
        return 'error', type(exc)


def _check(text) -> None:
    want, got = _outcome(json.loads, text), _outcome(_jsonread.loads, text)
    assert want[0] == got[0], (text, want, got)
    if want[0] == 'value':
        assert _same(want[1], got[1]), (text, want, got)
    else:
        assert got[1] is want[1]


# where orjson and json.loads part: integers beyond 64 bits (orjson reads floats), numbers beyond
# a double, NaN/Infinity, lone surrogates, a BOM, bytes in other encodings, deep nesting
EDGES = ['{"a": 123456789012345678901}', '[-9223372036854775809]', '[18446744073709551615]',
         '[18446744073709551616]', '["1234567890123456789012"]', '[1e400]', '[-1.7976931348623157e309]',
         '[NaN]', '[Infinity]', '[-Infinity]', '["\\ud800"]', '["\\udc00\\ud800"]', '"\ud800"', '\ufeff[1]',
         '{"a": 1, "a": 2}', '[5e-324, -0.0, 0.1, 1E2, 1.0]', '["\\u0000 \\/ é ✓ 漢"]', '[1] x', '{"a": 01}',
         '["a\tb"]', '[' * 2000 + ']' * 2000, '', ' ', '{}']


@pytest.mark.parametrize('text', EDGES)
def test_edge_texts_read_as_json_loads_reads_them(text):
    _check(text)
    if not text.startswith('\ufeff'):      # json.loads takes a BOM in bytes (it decodes them), not in str
        _check(text.encode('utf-8', 'surrogatepass'))


@pytest.mark.parametrize('encoding', ['utf-8-sig', 'utf-16', 'utf-32-be'])
def test_bytes_in_other_encodings_read_as_json_loads_reads_them(encoding):
    _check('{"a": [1, "é"]}'.encode(encoding))


def test_nesting_within_orjsons_limit_reads_whatever_the_stack_left_json_loads():
    # json.loads' depth depends on the interpreter's recursion limit and the caller's stack
    # (600 levels fail under pytest); orjson reads up to 1024 wherever it is called. A state
    # deeper than MAX_DEPTH is refused either way (test_serialization's depth tests).
    deep = '[' * 600 + ']' * 600
    value = _jsonread.loads(deep)
    for _ in range(599):
        (value,) = value
    assert value == []


def test_invalid_utf8_is_still_the_standard_librarys_error():
    with pytest.raises(UnicodeDecodeError):
        _jsonread.loads(b'["\xff"]')


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2 ** 80), max_value=2 ** 80)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=30)


@settings(max_examples=300, deadline=None)
@given(JSON_VALUES)
def test_any_json_value_reads_as_json_loads_reads_it(value):
    text = json.dumps(value)
    _check(text)
    _check(json.dumps(value, ensure_ascii=False).encode('utf-8', 'surrogatepass'))


def test_parse_constant_is_asked_as_json_loads_asks_it():
    asked = []

    def constant(name):
        asked.append(name)
        return None

    assert _jsonread.loads('[NaN, 1, -Infinity]', parse_constant=constant) == [None, 1, None]
    assert asked == ['NaN', '-Infinity']


def test_a_state_document_parses_to_what_json_loads_makes_of_it():
    doc = {'format': serialization.FORMAT, 'schema': serialization.SCHEMA_VERSION, 'backends': [],
           'volumes': [], 'snapshots': [], 'connections': []}
    text = json.dumps(doc)
    assert _same(serialization.parse(text), serialization.parse(json.loads(text)))
    # NaN is still refused by the state parser, on the path orjson hands back
    with pytest.raises(StateError, match='not valid JSON'):
        serialization.parse(text.replace('"volumes": []', '"volumes": [NaN]'))


def test_without_orjson_the_standard_library_reads_everything(monkeypatch):
    # bench/run.sh's cinderlib venv imports cinder_nb (for the embedded driver) without orjson
    monkeypatch.setattr(_jsonread, '_orjson', None)
    assert _jsonread.fast_loads(b'[1]') is _jsonread.MISS
    for text in EDGES:
        _check(text)


def test_long_texts_and_digit_runs_across_pieces_go_to_json_loads(monkeypatch):
    calls = []
    real = json.loads
    monkeypatch.setattr(_jsonread.json, 'loads', lambda *a, **k: calls.append(1) or real(*a, **k))
    # 19 digits across the border of two 1 MiB pieces: still found, still read as an int
    text = '[' + ' ' * ((1 << 20) - 10) + '1234567890123456789012]'
    assert _jsonread.loads(text) == [1234567890123456789012] and calls == [1]
    assert _jsonread.loads('[1, 2]') == [1, 2] and calls == [1]
    monkeypatch.setattr(_jsonread, 'ORJSON_MAX_CHARS', 4)
    assert _jsonread.loads('[1, 2]') == [1, 2] and calls == [1, 1]
