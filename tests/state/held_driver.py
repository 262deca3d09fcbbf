"""A LocalFileDriver whose initialize_connection waits for the test (see test_conflicts.py)."""
import threading

from cinder_nb.drivers.localfile import LocalFileDriver


class HeldConnectDriver(LocalFileDriver):
    """initialize_connection sets ENTERED, then waits until the test sets RELEASE."""

    ENTERED = threading.Event()
    RELEASE = threading.Event()

    def initialize_connection(self, *args, **kwargs):
        self.ENTERED.set()
        assert self.RELEASE.wait(30), 'the test never released the connect'
        return super().initialize_connection(*args, **kwargs)


class HeldCloneDriver(LocalFileDriver):
    """create_cloned_volume sets ENTERED, then waits until the test sets RELEASE."""

    ENTERED = threading.Event()
    RELEASE = threading.Event()

    def create_cloned_volume(self, *args, **kwargs):
        self.ENTERED.set()
        assert self.RELEASE.wait(30), 'the test never released the clone'
        return super().create_cloned_volume(*args, **kwargs)
