"""The second host of the remote-attach test: os-brick alone, fed connection_info on stdin.

Run as ``python host2_attach.py IFACE OFFSET LENGTH``; reads the JSON connection_info Cinder
returned for this host's connector (as Nova would get it), attaches with os-brick's
ISCSIConnector through the open-iscsi interface IFACE (which carries this host's own
initiator name), prints the device path and the bytes read at OFFSET as JSON, then detaches.
It imports no cinder_nb and no cinder.
"""
import json
import os
import sys

from os_brick import privileged
from os_brick.initiator import connector


def main() -> None:
    iface, offset, length = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    info = json.load(sys.stdin)
    privileged.default.set_client_mode(False)   # root already: run os-brick's privileged calls here
    brick = connector.InitiatorConnector.factory(info['driver_volume_type'], None, transport=iface,
                                                 use_multipath=False, device_scan_attempts=5)
    device = brick.connect_volume(info['data'])
    try:
        fd = os.open(device['path'], os.O_RDONLY)
        try:
            data = os.pread(fd, length, offset)
        finally:
            os.close(fd)
        sessions = os.popen('iscsiadm -m session -P 1 2>/dev/null').read()
    finally:
        brick.disconnect_volume(info['data'], device)
    print(json.dumps({'path': device['path'], 'data': data.decode('latin-1'), 'sessions': sessions}))


if __name__ == '__main__':
    main()
