"""Secret redaction for everything that leaves the process.

Secrets are driver options oslo.config marks ``secret=True`` and resource fields
that carry credentials: a volume's ``provider_auth`` (``CHAP <user> <password>``),
connection data such as ``auth_password`` or ``discovery_auth_password``, and the
Ceph ``keyring`` an RBD connection may carry. The full values stay in the
process (the in-memory objects); JSON, database rows, checkpoint cells,
DataFrames, reprs and logs get ``REDACTED`` instead.
"""
from __future__ import annotations

import logging
import re
from typing import Any, Iterable

REDACTED = '***'

#: key names whose values are credentials wherever they appear in resource data
SECRET_KEY = re.compile(r'(pass(word|wd)?$|password|secret$|secret_key|keyring|token|private_key|'
                        r'provider_auth|auth_key|chap_secret|api_key)', re.IGNORECASE)
#: key names that look secret but are identifiers, not credentials
NOT_SECRET = frozenset({'secret_type', 'auth_method', 'auth_enabled', 'discovery_auth_method'})


def is_secret_key(key: str) -> bool:
    return key not in NOT_SECRET and bool(SECRET_KEY.search(key))


def redact(value: Any, extra_keys: Iterable[str] = ()) -> Any:
    """A deep copy of value with every secret-looking (or listed) key's value replaced."""
    extra = frozenset(extra_keys)
    return _redact(value, extra)


def _redact(value: Any, extra: frozenset) -> Any:
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if isinstance(k, str) and (k in extra or is_secret_key(k)) and v not in (None, '', [], {}):
                out[k] = REDACTED
            else:
                out[k] = _redact(v, extra)
        return out
    if isinstance(value, list):
        return [_redact(v, extra) for v in value]
    if isinstance(value, tuple):
        return tuple(_redact(v, extra) for v in value)
    return value


def secret_values(value: Any, extra: frozenset = frozenset()) -> set[str]:
    """Every secret string inside value (used to scrub log lines)."""
    found: set[str] = set()
    if isinstance(value, dict):
        for k, v in value.items():
            if isinstance(k, str) and (k in extra or is_secret_key(k)) and isinstance(v, str) and v:
                found.add(v)
                if v.startswith('CHAP '):
                    found.update(p for p in v.split()[1:] if len(p) > 3)
            else:
                found |= secret_values(v, extra)
    elif isinstance(value, (list, tuple)):
        for v in value:
            found |= secret_values(v, extra)
    return found


class LogScrubber:
    """Replaces known secret values in every log record created in this process.

    It wraps the logging record factory, so records from any logger (Cinder's driver
    modules, os-brick, ours) are scrubbed whatever handlers the user configured.
    """

    def __init__(self) -> None:
        self.values: set[str] = set()
        self._installed = False

    def add(self, values: Iterable[str]) -> None:
        self.values.update(v for v in values if isinstance(v, str) and len(v) >= 4)

    def scrub(self, text: str) -> str:
        for value in self.values:
            if value in text:
                text = text.replace(value, REDACTED)
        return text

    def install(self) -> None:
        if self._installed:
            return
        previous = logging.getLogRecordFactory()

        def factory(*args, **kwargs):
            record = previous(*args, **kwargs)
            if self.values:
                try:
                    message = record.getMessage()
                except Exception:
                    return record
                scrubbed = self.scrub(message)
                if scrubbed != message:
                    record.msg, record.args = scrubbed, None
            return record

        logging.setLogRecordFactory(factory)
        self._installed = True


SCRUBBER = LogScrubber()
