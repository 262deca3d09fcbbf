"""JSON text read exactly as ``json.loads`` reads it, by orjson wherever that gives the same.

orjson reads a document up to twice as fast as the standard library (a 10k-volume state in
18 instead of 33 ms; a text beyond ORJSON_MAX_CHARS is not given to it, for memory) and agrees
with it on every value but one: an integer beyond 64 bits, which it reads as a float. What it
refuses (NaN, Infinity, a lone surrogate, a number beyond a double, text that is not UTF-8,
nesting past its limit) goes to ``json.loads``, whose answer or error is the caller's as
before. One difference remains: orjson reads nesting up to 1024 levels wherever it is called,
json.loads as deep as the interpreter's recursion limit leaves room for (fewer levels from deep
in a stack).
"""
from __future__ import annotations

import json
from typing import Any, Callable

try:
    import orjson as _orjson
except ImportError:     # bench/run.sh's cinderlib venv loads the embedded driver's package without it
    _orjson = None      # type: ignore[assignment]

#: the longest text fast_loads() hands orjson: orjson makes each dict with room to spare (a volume
#: record's 632 bytes against json.loads' 464), which at 100k volumes (54 MB of text, parsed in
#: 175 ms against 226) held 27 MiB more at the peak of dumps+load, the measure issue 14 misses
#: on memory; below this a state document is parsed faster at no cost that matters
ORJSON_MAX_CHARS = 16 << 20

#: what fast_loads() answers when orjson cannot be trusted with the text
MISS: Any = object()

#: 19 digits in a row: maybe an integer beyond 64 bits. Searched for in the text's bytes with
#: every digit made '0' and every other byte ' ': ten times faster than re's [0-9]{19}
_NINETEEN_DIGITS = b'0' * 19
_DIGITS_TO_ZERO = bytes(0x30 if 0x30 <= i <= 0x39 else 0x20 for i in range(256))


def fast_loads(text: str | bytes | bytearray) -> Any:
    """orjson.loads(text) where it reads what json.loads reads; MISS where it may not (19 digits
    in a row), where it refuses, and for a text beyond ORJSON_MAX_CHARS. A str goes to orjson as
    it is: orjson reads its own UTF-8, no copy of a large document is made here."""
    if _orjson is None or len(text) > ORJSON_MAX_CHARS or _long_digit_run(text):
        return MISS
    try:
        return _orjson.loads(text)
    except _orjson.JSONDecodeError:
        return MISS


def loads(text: str | bytes | bytearray, parse_constant: Callable[[str], Any] | None = None) -> Any:
    """``json.loads(text, parse_constant=parse_constant)``, through orjson where it gives the
    same (orjson refuses NaN and Infinity, so parse_constant is asked only on the slow path)."""
    found = fast_loads(text)
    if found is not MISS:
        return found
    return json.loads(text, parse_constant=parse_constant)


def _long_digit_run(text: str | bytes | bytearray, chunk: int = 1 << 20) -> bool:
    """Whether text has 19 digits in a row; a str is searched a MiB at a time (each piece
    overlapping the last by 18 characters), never encoded whole."""
    if not isinstance(text, str):
        return _NINETEEN_DIGITS in text.translate(_DIGITS_TO_ZERO)
    for start in range(0, len(text), chunk):
        piece = text[max(0, start - 18):start + chunk].encode('utf-8', 'surrogatepass')
        if _NINETEEN_DIGITS in piece.translate(_DIGITS_TO_ZERO):
            return True
    return False
