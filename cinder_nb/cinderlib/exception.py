"""cinderlib's exception names, as cinder_nb's typed errors.

cinderlib raised Cinder's exception classes; cinder_nb raises its own typed errors
(cinder_nb.errors). The names below let ``except cinderlib.exception.X`` keep working.
"""
from __future__ import annotations

from cinder_nb.errors import CinderNBError, InvalidArgument, InvalidState, NotFound

VolumeNotFound = SnapshotNotFound = ConnectionNotFound = NotFound
InvalidVolume = InvalidState
InvalidPersistence = InvalidArgument


class NotLocal(InvalidState):
    """The volume is not attached locally (detach() without a local attach)."""

    def __init__(self, volume_id: str) -> None:
        super().__init__('volume', volume_id, 'not attached here', 'detach',
                         "It doesn't seem to be attached locally.")


class AlreadySetup(CinderNBError):
    """setup() ran already in this process (as cinderlib, set Backend.global_initialization
    to False first to run it again)."""


__all__ = ['NotFound', 'VolumeNotFound', 'SnapshotNotFound', 'ConnectionNotFound', 'InvalidVolume',
           'InvalidPersistence', 'NotLocal', 'AlreadySetup']
