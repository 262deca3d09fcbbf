"""Random operation sequences against a model; dumps -> load into a fresh session round-trips.

After every step the state is dumped, a fresh session is set up (memory or SQLite),
the text is loaded (save=False or True at random) and dumped again: the two
documents must be identical, and the next step runs on the loaded objects.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile

from hypothesis import settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

import cinder_nb as cnb
from cinder_nb import _runtime


class StateMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = tempfile.mkdtemp(prefix='cnb-stateful-')
        self.n = 0
        self.store = 'memory'
        self._session()
        # the model, in creation order: rules pick by position, so a replayed example picks
        # the same objects (ids are random uuids, their sorted order is not)
        self.volumes: dict[str, int] = {}              # id -> size
        self.snapshots: dict[str, str] = {}            # id -> volume id

    def _session(self):
        if self.store == 'memory':
            _runtime.setup('memory', state_dir=os.path.join(self.dir, 'st'))
        else:
            self.n += 1
            _runtime.setup({'path': os.path.join(self.dir, f's{self.n}.db')}, state_dir=os.path.join(self.dir, 'st'))
        self.lab = cnb.embedded(os.path.join(self.dir, 'vols'), name='lab', local_file_attach_mode='file')

    def _vol(self, ident):
        return _runtime.get().get('volume', ident)

    @rule(size=st.integers(1, 3))
    def create(self, size):
        vol = self.lab.create_volume(size, metadata={'k': str(size)})
        self.volumes[vol.id] = size

    @precondition(lambda self: self.volumes)
    @rule(data=st.data())
    def snapshot(self, data):
        ident = data.draw(st.sampled_from(list(self.volumes)))
        snap = self._vol(ident).create_snapshot(name='s')
        self.snapshots[snap.id] = ident

    @precondition(lambda self: self.volumes)
    @rule(data=st.data())
    def clone(self, data):
        ident = data.draw(st.sampled_from(list(self.volumes)))
        new = self._vol(ident).clone()
        self.volumes[new.id] = self.volumes[ident]

    @precondition(lambda self: self.snapshots)
    @rule(data=st.data())
    def from_snapshot(self, data):
        ident = data.draw(st.sampled_from(list(self.snapshots)))
        new = _runtime.get().get('snapshot', ident).create_volume()
        self.volumes[new.id] = new.size

    @precondition(lambda self: self.volumes)
    @rule(data=st.data(), grow=st.integers(1, 2))
    def extend(self, data, grow):
        ident = data.draw(st.sampled_from(list(self.volumes)))
        self._vol(ident).extend(self.volumes[ident] + grow)
        self.volumes[ident] += grow

    @precondition(lambda self: self.snapshots)
    @rule(data=st.data())
    def delete_snapshot(self, data):
        ident = data.draw(st.sampled_from(list(self.snapshots)))
        _runtime.get().get('snapshot', ident).delete()
        del self.snapshots[ident]

    @precondition(lambda self: self.volumes)
    @rule(data=st.data())
    def delete_volume(self, data):
        ident = data.draw(st.sampled_from(list(self.volumes)))
        vol = self._vol(ident)
        if ident in self.snapshots.values():
            try:
                vol.delete()
            except cnb.InvalidState:
                return
            raise AssertionError('a volume with snapshots was deleted')
        vol.delete()
        del self.volumes[ident]

    @rule(store=st.sampled_from(['memory', 'sqlite']), save=st.booleans())
    def round_trip(self, store, save):
        before = json.loads(cnb.dumps())
        self.store = store
        self._session()
        cnb.load(json.dumps(before), save=save)
        after = json.loads(cnb.dumps())
        before.pop('written_at'), after.pop('written_at')
        assert after == before

    def teardown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    @invariant()
    def matches_model(self):
        vols = {v.id: v.size for v in self.lab.volumes}
        assert vols == self.volumes
        assert {s.id: s.volume_id for s in self.lab.snapshots} == self.snapshots
        for vol in self.lab.volumes:
            assert vol.status == 'available'
            assert os.path.getsize(vol.provider_location) == vol.size << 30


StateMachine.TestCase.settings = settings(max_examples=25, stateful_step_count=15, deadline=None)
TestStateRoundTrip = StateMachine.TestCase
