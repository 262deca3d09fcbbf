"""Secret redaction for everything that leaves the process.

Secrets are driver options oslo.config marks ``secret=True`` and resource fields
that carry credentials: a volume's ``provider_auth`` (``CHAP <user> <password>``),
connection data such as ``auth_password`` or ``discovery_auth_password``, and the
Ceph ``keyring`` an RBD connection may carry. The full values stay in the
process (the in-memory objects); JSON, database rows, checkpoint cells,
DataFrames, reprs and logs get ``REDACTED`` instead.
"""
from __future__ import annotations

import functools
import logging
import re
from typing import Any, Iterable

from oslo_utils import strutils

REDACTED = '***'

#: key names whose values are credentials wherever they appear in resource data
SECRET_KEY = re.compile(r'(pass(word|wd)?$|password|secret$|secret_key|keyring|token|private_key|'
                        r'provider_auth|auth_key|chap_secret|api_key)', re.IGNORECASE)
#: key names that look secret but are identifiers, not credentials
NOT_SECRET = frozenset({'secret_type', 'auth_method', 'auth_enabled', 'discovery_auth_method'})


@functools.lru_cache(maxsize=4096)
def is_secret_key(key: str) -> bool:
    return key not in NOT_SECRET and bool(SECRET_KEY.search(key))


def redact(value: Any, extra_keys: Iterable[str] = ()) -> Any:
    """A deep copy of value with every secret-looking (or listed) key's value replaced."""
    return _redact(value, frozenset(extra_keys), None)


def redact_collect(value: Any) -> tuple[Any, set[str]]:
    """redact(value) and secret_values(value) in one walk: (redacted copy, secret strings)."""
    found: set[str] = set()
    return _redact(value, frozenset(), found), found


#: JSON's scalar types: values passed on as they are without a call, by _redact here and by
#: the persistence layer's record copies (one definition for both)
PLAIN_SCALARS = frozenset({str, int, float, bool, type(None)})


class NotPlain(Exception):
    """redact_plain() met something that is not a dict with str keys, a list or a JSON scalar."""


def redact_plain(value: dict) -> tuple[dict, set[str]]:
    """redact_collect() of a record made only of dicts with str keys, lists and JSON scalars
    (exactly those types): the copy shares nothing with value and is made of those types too,
    so a store may keep it (persistence Write.owned) instead of copying it again. NotPlain
    for anything else (the caller falls back to redact_collect)."""
    found: set[str] = set()
    return _redact_plain(value, found), found


def _redact_plain(value: Any, found: set[str]) -> Any:
    kind = type(value)
    if kind is dict:
        out = {}
        for k, v in value.items():
            if type(k) is not str:
                raise NotPlain(k)
            if is_secret_key(k) and v not in (None, '', [], {}):
                out[k] = REDACTED
                found |= secret_values({k: v})
            elif type(v) in PLAIN_SCALARS:
                out[k] = v
            else:
                out[k] = _redact_plain(v, found)
        return out
    if kind is list:
        return [v if type(v) in PLAIN_SCALARS else _redact_plain(v, found) for v in value]
    raise NotPlain(kind)


def _redact(value: Any, extra: frozenset, found: set[str] | None) -> Any:
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if isinstance(k, str) and (k in extra or is_secret_key(k)) and v not in (None, '', [], {}):
                out[k] = REDACTED
                if found is not None:
                    found |= secret_values({k: v})
            elif type(v) in PLAIN_SCALARS:     # no call per plain value: most of a record
                out[k] = v
            else:
                out[k] = _redact(v, extra, found)
        return out
    if isinstance(value, list):
        return [_redact(v, extra, found) for v in value]
    if isinstance(value, tuple):
        return tuple(_redact(v, extra, found) for v in value)
    return value


def redacted_paths(public: Any, prefix: str = '') -> list[str]:
    """Dotted paths of every field a redacted record holds REDACTED for a secret-looking key."""
    paths: list[str] = []
    if isinstance(public, dict):
        for k, v in public.items():
            if isinstance(v, dict):
                if v:       # an empty dict holds no path: skip the call (most records' dicts are empty)
                    paths.extend(redacted_paths(v, f'{prefix}{k}.'))
            elif v == REDACTED and isinstance(k, str) and is_secret_key(k):
                paths.append(f'{prefix}{k}')
    return paths


def unredact(public: Any, full: Any) -> Any:
    """public with each REDACTED secret field taken back from full (the in-process record)."""
    if not isinstance(public, dict) or not isinstance(full, dict):
        return public
    out = {}
    for k, v in public.items():
        if isinstance(v, dict):
            out[k] = unredact(v, full.get(k)) if v else {}
        elif v == REDACTED and isinstance(k, str) and is_secret_key(k) and k in full:
            out[k] = full[k]
        else:
            out[k] = v
    return out


def secret_values(value: Any, extra: frozenset = frozenset()) -> set[str]:
    """Every secret string inside value (used to scrub log lines)."""
    found: set[str] = set()
    if isinstance(value, dict):
        for k, v in value.items():
            if isinstance(k, str) and (k in extra or is_secret_key(k)) and isinstance(v, str) and v:
                found.add(v)
                if v.startswith('CHAP ') and len(v.split()) == 3:
                    found.add(v.split()[2])      # the secret, not the user name
            else:
                found |= secret_values(v, extra)
    elif isinstance(value, (list, tuple)):
        for v in value:
            found |= secret_values(v, extra)
    return found


#: credentials a driver may log before cinder_nb has seen them (e.g. a CHAP secret it
#: just generated): masked by shape as well as by known value
_CHAP = re.compile(r'\b(CHAP\s+\S+\s+)(\S+)')
_QUOTED = re.compile(r"""(['"]?\w*(?:pass(?:word|wd)?|secret|keyring|token|private_key|auth_key)\w*['"]?"""
                     r"""\s*[:=]\s*)(['"])(.*?)(?<!\\)\2""", re.IGNORECASE | re.DOTALL)
_BARE = re.compile(r"""(\b\w*(?:password|passwd|secret|token)\w*\s*=\s*)(?!['"])([^\s,;)}\]]+)""",
                   re.IGNORECASE)
_CEPH_KEY = re.compile(r'(key\s*=\s*)([A-Za-z0-9+/]{20,}={0,2})')
#: prose such as "chap secret is 3f9a..." (a word after 'is' that says what is wrong stays)
_PROSE = re.compile(r"""(\b(?:password|passwd|secret|passphrase)\s+(?:is|was)\s+)"""
                    r"""(?!(?:required|missing|not|empty|invalid|wrong|set|unset|needed|too|none|null|"""
                    r"""expired|incorrect|given|provided|a|an|the)\b)(['"]?)([^\s'",;)}\]]+)\2""",
                    re.IGNORECASE)


def mask_patterns(text: str) -> str:
    """text with credential-shaped substrings (CHAP secrets, password=..., Ceph keys) masked."""
    text = _CHAP.sub(lambda m: m.group(1) + REDACTED, text)
    text = _QUOTED.sub(lambda m: m.group(1) + m.group(2) + REDACTED + m.group(2)
                       if not is_not_secret_key(m.group(1)) else m.group(0), text)
    text = _BARE.sub(lambda m: m.group(1) + REDACTED, text)
    text = _PROSE.sub(lambda m: m.group(1) + m.group(2) + REDACTED + m.group(2), text)
    text = _CEPH_KEY.sub(lambda m: m.group(1) + REDACTED, text)
    return _oslo_mask(text)


def _oslo_mask(text: str) -> str:
    """oslo.utils' mask_password (what Cinder uses for its logs and API errors): it knows
    key names and forms (XML, --password, JSON) the patterns above do not. Key names that
    only look secret (NOT_SECRET: 'secret_type', 'auth_method', ...) are hidden from it,
    since its patterns would mask their values or eat them."""
    # Values masked already ('***' in quotes) are hidden too: oslo's greedy wildcard pattern
    # for "'...password': '...'" would otherwise eat the rest of the line.
    hidden = [k for k in NOT_SECRET if k in text] + [f"'{REDACTED}'", f'"{REDACTED}"']
    for i, key in enumerate(hidden):
        text = text.replace(key, f'\x00{i}\x00')
    text = strutils.mask_password(text, secret=REDACTED)
    for i, key in enumerate(hidden):
        text = text.replace(f'\x00{i}\x00', key)
    return text


def is_not_secret_key(prefix: str) -> bool:
    key = re.sub(r'[^\w]', '', prefix.split(':')[0].split('=')[0])
    return key in NOT_SECRET


class LogScrubber:
    """Masks secrets in every log record created in this process.

    It wraps the logging record factory, so records from any logger (Cinder's driver
    modules, os-brick, ours) are scrubbed whatever handlers the user configured. It
    replaces every secret value cinder_nb has seen (secret options, secret resource
    fields) and masks credential-shaped text it has not seen (see mask_patterns).
    """

    def __init__(self) -> None:
        self.values: set[str] = set()
        self._installed = False

    def add(self, values: Iterable[str]) -> None:
        self.values.update(v for v in values if isinstance(v, str) and len(v) >= 4)

    def scrub(self, text: str) -> str:
        for value in sorted((v for v in self.values if v in text), key=len, reverse=True):
            text = text.replace(value, REDACTED)
        return mask_patterns(text)

    def install(self) -> None:
        if self._installed:
            return
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            try:
                message = record.getMessage()
            except Exception:
                return record
            scrubbed = self.scrub(message)
            if scrubbed != message:
                record.msg, record.args = scrubbed, None
            if record.exc_info and record.exc_info[0] is not None:
                # A logged exception's text can quote a secret: format the traceback now
                # and, if it needs masking, hand handlers the masked text instead.
                trace = _TRACEBACK.formatException(record.exc_info)
                masked = self.scrub(trace)
                if masked != trace:
                    record.exc_info, record.exc_text = None, masked
            return record

        logging.setLogRecordFactory(factory)
        self._installed = True


_TRACEBACK = logging.Formatter()
SCRUBBER = LogScrubber()
