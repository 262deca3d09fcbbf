"""The RADOS connection pool's own logic (cinder_nb._cinder.rbd_fixes.RadosPool) with stand-in handles;
the real thing runs against Ceph in tests/ceph/test_rbd.py."""
from __future__ import annotations

import threading

from cinder_nb._cinder import rbd_fixes


class Handle:                      # stands in for rados.Rados / rados.Ioctx (own logic only)
    def __init__(self):
        self.state = 'connected'
        self.closed = False

    def close(self):
        self.closed = True

    def shutdown(self):
        self.state = 'shutdown'


def test_lends_each_pair_to_one_borrower_and_reuses_it():
    pool = rbd_fixes.RadosPool()
    made = []

    def connect():
        made.append((Handle(), Handle()))
        return made[-1]
    a = pool.borrow(('p',), connect)
    b = pool.borrow(('p',), connect)
    assert a is not b and len(made) == 2          # two borrowers at once: two connections
    pool.give_back(*a)
    assert pool.borrow(('p',), connect) == a and len(made) == 2
    c = pool.borrow(('other',), connect)          # another pool/user/timeout: its own connection
    assert c not in (a, b) and len(made) == 3


def test_disconnected_or_old_idle_pairs_are_shut_down_not_reused(monkeypatch):
    pool = rbd_fixes.RadosPool()
    first = pool.borrow(('p',), lambda: (Handle(), Handle()))
    pool.give_back(*first)
    first[0].state = 'configuring'                # e.g. the cluster handle lost its session
    second = pool.borrow(('p',), lambda: (Handle(), Handle()))
    assert second is not first and first[0].state == 'shutdown' and first[1].closed
    pool.give_back(*second)
    monkeypatch.setattr(rbd_fixes, 'RADOS_IDLE_S', 0.0)
    third = pool.borrow(('p',), lambda: (Handle(), Handle()))
    assert third is not second and second[0].state == 'shutdown'


def test_idle_cap_and_close(monkeypatch):
    monkeypatch.setattr(rbd_fixes, 'RADOS_MAX_IDLE', 2)
    pool = rbd_fixes.RadosPool()
    pairs = [pool.borrow(('p',), lambda: (Handle(), Handle())) for _ in range(3)]
    for pair in pairs:
        pool.give_back(*pair)
    assert pool.idle == 2 and pairs[2][0].state == 'shutdown'
    lent = pool.borrow(('p',), lambda: (Handle(), Handle()))
    pool.close()
    assert lent in pairs[:2] and lent[0].state == 'connected'     # a lent pair stays usable
    assert pool.idle == 0 and all(p[0].state == 'shutdown' for p in pairs if p != lent)
    pool.give_back(*lent)                         # given back after close: shut down, not kept
    assert pool.idle == 0 and lent[0].state == 'shutdown'


def test_concurrent_borrowers_never_share():
    pool = rbd_fixes.RadosPool()
    held, clash = set(), []
    lock = threading.Lock()

    def worker():
        for _ in range(200):
            pair = pool.borrow(('p',), lambda: (Handle(), Handle()))
            with lock:
                if id(pair[1]) in held:
                    clash.append(pair)
                held.add(id(pair[1]))
            with lock:
                held.discard(id(pair[1]))
            pool.give_back(*pair)
    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert clash == [] and pool.opened <= 8
