"""Every public operation this session ran is recorded: what, on which resource and backend, how long, outcome."""
from __future__ import annotations

import pytest

import cinder_nb as cnb
from cinder_nb import oplog
from cinder_nb.errors import InvalidArgument


def test_operations_are_recorded_with_nesting_and_failures(session):
    oplog.clear()
    a = cnb.embedded(str(session / 'a'), name='a', local_file_attach_mode='file')
    b = cnb.embedded(str(session / 'b'), name='b', local_file_attach_mode='file')
    vol = a.create_volume(1, name='v')
    snap = vol.create_snapshot()
    vol.extend(2)
    with pytest.raises(InvalidArgument):
        vol.extend(1)
    copy = vol.copy_to(b)
    snap.delete()
    recs = oplog.records()
    ops = [r['operation'] for r in recs]
    assert ops[:4] == ['backend.create_volume', 'volume.create_snapshot', 'volume.extend', 'volume.extend']
    assert recs[0]['result_id'] == vol.id and recs[0]['resource_id'] == 'a' and recs[0]['backend'] == 'a'
    assert recs[1]['resource_id'] == vol.id and recs[1]['result_id'] == snap.id
    assert recs[2]['ok'] and recs[2]['error'] is None
    assert not recs[3]['ok'] and recs[3]['error'].startswith('InvalidArgument: new_size=1')
    top = next(r for r in recs if r['operation'] == 'volume.copy_to')
    assert top['result_id'] == copy.id and top['backend'] == 'a'
    inner = [r['operation'] for r in recs if r['parent'] == top['seq']]
    assert inner == ['backend.create_volume', 'volume.attach', 'volume.attach', 'volume.detach', 'volume.detach']
    assert next(r for r in recs if r['parent'] == top['seq'])['backend'] == 'b'
    assert sum(r['duration_s'] for r in recs if r['parent'] == top['seq']) <= top['duration_s']
    assert ops[-1] == 'snapshot.delete' and recs[-1]['resource_id'] == snap.id
    assert [r['seq'] for r in recs] == sorted(r['seq'] for r in recs)
    oplog.clear()
    assert oplog.records() == []


def test_listeners_hear_each_operation_and_a_failing_one_breaks_nothing(session):
    import gc
    lab = cnb.embedded(str(session / 'a'), name='a', local_file_attach_mode='file')
    heard = []

    class Ear:
        def operation_ended(self, rec):
            heard.append((rec['operation'], rec['ok']))

    class Broken:
        def operation_ended(self, rec):
            raise RuntimeError('display bug')

    ear, broken = Ear(), Broken()
    oplog.subscribe(ear)
    oplog.subscribe(broken)
    vol = lab.create_volume(1)
    with pytest.raises(InvalidArgument):
        vol.extend(1)
    assert heard == [('backend.create_volume', True), ('volume.extend', False)]
    oplog.unsubscribe(ear)
    del broken
    gc.collect()
    vol.extend(2)
    assert len(heard) == 2 and vol.size == 2


def test_each_thread_has_its_own_nesting_and_its_current_name(session):
    import threading
    oplog.clear()
    lab = cnb.embedded(str(session / 'a'), name='a', local_file_attach_mode='file')
    threads = [threading.Thread(target=lambda: lab.create_volume(1), name=f'worker-{i}') for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    recs = oplog.records()
    assert sorted(r['thread'] for r in recs) == ['worker-0', 'worker-1', 'worker-2']
    assert all(r['parent'] is None and r['ok'] for r in recs)
    me = threading.current_thread()
    old = me.name
    try:
        lab.create_volume(1)
        me.name = 'renamed-after-its-first-operation'
        lab.create_volume(1)
    finally:
        me.name = old
    assert [r['thread'] for r in oplog.records()[3:]] == [old, 'renamed-after-its-first-operation']


def test_a_listener_subscribed_again_hears_again(session):
    lab = cnb.embedded(str(session / 'a'), name='a', local_file_attach_mode='file')
    heard = []

    class Ear:
        def operation_started(self, rec):
            heard.append(('started', rec['operation']))

        def operation_ended(self, rec):
            heard.append(('ended', rec['operation']))

    ear = Ear()
    oplog.subscribe(ear)
    oplog.unsubscribe(ear)
    lab.create_volume(1)
    assert heard == []
    oplog.subscribe(ear)
    try:
        lab.create_volume(1)
    finally:
        oplog.unsubscribe(ear)
    assert heard == [('started', 'backend.create_volume'), ('ended', 'backend.create_volume')]
