"""The several-hosts test's checker: journals + stored records + files -> findings.

Findings (each must be zero):

- ``double``: a (kind, id) whose successful creations minus successful deletions is not
  what the store holds (two hosts both "created" or both "deleted" the same thing), or two
  successful extends of one volume to the same size (both read the same old size);
- ``lost``: a volume whose recorded size differs from its file's size or from the largest
  size a successful create/extend gave it since it was last created; a snapshot whose
  recorded volume_size differs from its file's size;
- ``stuck``: a record in a transitional status (after recovery);
- ``no_storage``: a volume or snapshot recorded as usable whose file is missing;
- ``orphans``: a file in the backend's directories that no record owns;
- ``untyped``: an operation that failed with an error that is not a cinder_nb error;
- ``stuck_not_from_kill`` (read before recovery, see stuck_not_from_kill()).

The one operation a kill -9 interrupted has an unknown outcome: the (kind, id) it named
in its ``intent`` line may be off by one in the balance, nothing else.
"""
from __future__ import annotations

import collections
import glob
import json
import os

GiB = 1 << 30
TRANSITIONAL = ('creating', 'deleting', 'extending', 'attaching', 'detaching', 'reverting')
#: failures that are not conflicts: a driver failure, nothing to act on, an untyped error
NOT_CONFLICTS = ('DriverError', 'nothing-to-do')


def _mentions(entries: list[dict], ident: str) -> list[dict]:
    """The journal lines that name ident (for the report of a finding)."""
    return [{k: v for k, v in e.items() if k != 'msg' or not e.get('ok', True)}
            for e in entries if ident in json.dumps(e)][:12]


def read_journals(journal_dir: str) -> list[dict]:
    entries = []
    for path in sorted(glob.glob(os.path.join(journal_dir, '*.jsonl'))):
        with open(path) as f:
            for line in f:
                if line.strip():
                    entries.append(json.loads(line))
    return entries


def read_records(socket_url: str) -> dict[str, dict[str, dict]]:
    """{kind: {id: record}} straight from the PostgreSQL table (not through cinder_nb)."""
    import psycopg
    out: dict[str, dict[str, dict]] = collections.defaultdict(dict)
    with psycopg.connect(socket_url) as conn:
        for kind, ident, data in conn.execute('SELECT kind, id, data FROM cinder_nb_resources'):
            out[kind][ident] = json.loads(data)
    return out


def interrupted(entries: list[dict], killed: str | None) -> dict | None:
    """The killed host's last intent without an end (its operation's outcome is unknown)."""
    if killed is None:
        return None
    last_intent = None
    for e in entries:
        if e['h'] != killed or e.get('ph') not in ('intent', 'end') or 'n' not in e:
            continue
        if e['ph'] == 'intent':
            last_intent = e
        elif last_intent is not None and e['n'] == last_intent['n']:
            last_intent = None
    return last_intent


def figures(entries: list[dict]) -> dict:
    ends = [e for e in entries if e.get('ph') == 'end' and 'n' in e and not e['op'].startswith(('recover', 'teardown'))]
    errors = collections.Counter(e['err'] for e in ends if not e['ok'])
    return {
        'ops': len(ends),
        'ok': sum(1 for e in ends if e['ok']),
        # a typed refusal (InvalidState, NotFound, InvalidArgument for a taken id, ...)
        'conflicts': sum(n for err, n in errors.items()
                         if err not in NOT_CONFLICTS and not err.startswith('UNTYPED')),
        'driver_errors': errors.get('DriverError', 0),
        'connects_undone_by_a_concurrent_disconnect': sum(
            1 for e in ends if not e['ok'] and e['op'] == 'connect' and e.get('err') == 'NotFound'
            and e.get('exc_kind') == 'connection'),
        'nothing_to_do': errors.get('nothing-to-do', 0),
        'errors_by_type': dict(errors),
        'ok_by_op': dict(collections.Counter(e['op'] for e in ends if e['ok'])),
    }


def check(entries: list[dict], records: dict[str, dict[str, dict]], volumes_dir: str,
          killed: str | None = None) -> dict[str, list]:
    found: dict[str, list] = {k: [] for k in ('double', 'lost', 'stuck', 'no_storage', 'orphans', 'untyped')}
    open_op = interrupted(entries, killed)
    unknown = set()
    if open_op is not None:
        for key in ('made', 'gone'):
            if key in open_op:
                unknown.add(tuple(open_op[key]))
                if open_op[key][1] == '?':
                    unknown.add((open_op[key][0], '*'))
    ends = [e for e in entries if e.get('ph') == 'end']
    for e in ends:
        if not e['ok'] and str(e.get('err', '')).startswith('UNTYPED'):
            found['untyped'].append(e)

    # ---------------------------------------------------- creations vs deletions vs store
    balance: dict[tuple, int] = collections.Counter()
    for e in ends:
        if not e['ok']:
            continue
        kind = e.get('kind')
        if 'made' in e:
            balance[(kind, e['made'])] += 1
        if 'gone' in e:
            balance[(kind, e['gone'])] -= 1
    for kind in ('volume', 'snapshot', 'connection'):
        for ident in records.get(kind, {}):
            balance[(kind, ident)] -= 1
    for (kind, ident), n in sorted(balance.items()):
        if n == 0:
            continue
        if abs(n) == 1 and ((kind, ident) in unknown or ((kind, '*') in unknown and n == -1)):
            continue
        found['double'].append({'kind': kind, 'id': ident, 'made_minus_deleted_minus_stored': n,
                                'journal': _mentions(entries, ident)})

    # ---------------------------------------------------- sizes
    volumes = records.get('volume', {})
    by_volume: dict[str, list[dict]] = collections.defaultdict(list)
    for e in ends:
        if e['ok'] and e.get('kind') == 'volume' and ('made' in e or e['op'] == 'extend'):
            by_volume[e['made'] if 'made' in e else e['id']].append(e)
    for vid, rec in volumes.items():
        history = sorted(by_volume.get(vid, []), key=lambda e: e['t'])
        births = [i for i, e in enumerate(history) if 'made' in e]
        if births:
            since = history[births[-1]:]
            expected = max(e['size'] for e in since)
            if rec.get('size') != expected and rec.get('status') != 'error':
                found['lost'].append({'kind': 'volume', 'id': vid, 'recorded': rec.get('size'),
                                      'expected': expected, 'why': 'the record differs from the size the last successful create/extend gave'})
            sizes = collections.Counter(e['size'] for e in since if e['op'] == 'extend')
            for size, n in sizes.items():
                if n > 1:
                    found['double'].append({'kind': 'volume', 'id': vid, 'extended_to': size, 'times': n})
    for kind, sub, size_key in (('volume', 'volumes', 'size'), ('snapshot', 'snapshots', 'volume_size')):
        owned = {f'{kind}-{ident}' for ident in records.get(kind, {})}
        for ident, rec in records.get(kind, {}).items():
            path = os.path.join(volumes_dir, sub, f'{kind}-{ident}')
            usable = rec.get('status') in (('available', 'in-use') if kind == 'volume' else ('available',))
            if not os.path.exists(path):
                if usable:
                    found['no_storage'].append({'kind': kind, 'id': ident, 'status': rec.get('status')})
                continue
            actual = os.path.getsize(path)
            if usable and actual != rec.get(size_key, 0) * GiB:
                found['lost'].append({'kind': kind, 'id': ident, 'recorded_gib': rec.get(size_key),
                                      'file_bytes': actual, 'why': 'record and storage disagree'})
        d = os.path.join(volumes_dir, sub)
        for name in sorted(os.listdir(d)) if os.path.isdir(d) else []:
            if name not in owned:
                found['orphans'].append(os.path.join(sub, name))
    for kind in ('volume', 'snapshot', 'connection'):
        for ident, rec in records.get(kind, {}).items():
            if rec.get('status') in TRANSITIONAL:
                found['stuck'].append({'kind': kind, 'id': ident, 'status': rec.get('status')})
    return found


def errors_recorded(records: dict[str, dict[str, dict]]) -> list[dict]:
    """Records left in 'error'/'error_deleting' (driver failures), with their message."""
    return [{'kind': kind, 'id': ident, 'status': rec['status'], 'error': (rec.get('error') or '')[:200]}
            for kind in ('volume', 'snapshot', 'connection')
            for ident, rec in records.get(kind, {}).items()
            if str(rec.get('status')).startswith('error')]


def stuck_not_from_kill(records: dict[str, dict[str, dict]], open_op: dict | None) -> list[dict]:
    """Records in a transitional status that the one interrupted operation does not explain.

    Read before recovery: the killed operation may leave what it was making, deleting or
    changing (its intent) in a transitional status; anything else stuck is a bug.
    """
    explained: list[tuple] = []
    if open_op is not None:
        explained = [tuple(open_op[k]) for k in ('made', 'gone', 'target') if open_op.get(k)]
    out = []
    for kind in ('volume', 'snapshot', 'connection'):
        for ident, rec in records.get(kind, {}).items():
            if rec.get('status') not in TRANSITIONAL:
                continue
            for i, (k, e) in enumerate(explained):
                if k == kind and e in (ident, '?'):
                    del explained[i]
                    break
            else:
                out.append({'kind': kind, 'id': ident, 'status': rec.get('status')})
    return out
