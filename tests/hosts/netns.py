"""Network namespaces for the several-hosts test: one server namespace, N host namespaces.

The server namespace holds a bridge with the service address (PostgreSQL listens
there); each host namespace gets a veth pair whose other end is enslaved to that
bridge, and a private address of the same /24. Nothing is configured in the root
namespace: the veth ends are created directly in their namespaces. ``Topology``
removes every namespace it made (and with them the links) on ``close()``, which the
test calls in a ``finally``; an ``atexit`` hook does it too.
"""
from __future__ import annotations

import atexit
import os
import random
import shutil
import subprocess
import uuid


def unavailable_reason() -> str | None:
    """Why network namespaces cannot be made here, or None when they can."""
    if os.geteuid() != 0:
        return 'needs root to create network namespaces (ip netns add)'
    if shutil.which('ip') is None:
        return 'the ip command (Debian package iproute2) is not installed'
    probe = 'cnbprobe' + uuid.uuid4().hex[:6]
    proc = subprocess.run(['ip', 'netns', 'add', probe], capture_output=True, text=True)
    if proc.returncode:
        return f'ip netns add fails here: {proc.stderr.strip()[:200]}'
    try:
        proc = subprocess.run(['ip', '-n', probe, 'link', 'add', 'br0', 'type', 'bridge'],
                              capture_output=True, text=True)
        if proc.returncode:
            return f'no bridge support in this kernel: {proc.stderr.strip()[:200]}'
        proc = subprocess.run(['ip', '-n', probe, 'link', 'add', 'vprobe0', 'type', 'veth', 'peer', 'name', 'vprobe1'],
                              capture_output=True, text=True)
        if proc.returncode:
            return f'no veth support in this kernel: {proc.stderr.strip()[:200]}'
    finally:
        subprocess.run(['ip', 'netns', 'del', probe], capture_output=True)
    return None


def _ip(*args: str) -> None:
    proc = subprocess.run(['ip', *args], capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(f'ip {" ".join(args)} failed: {proc.stderr.strip()}')


class Topology:
    """A server namespace with a bridge at 10.X.Y.1/24 and host namespaces at 10.X.Y.(10+i)."""

    def __init__(self, hosts: int) -> None:
        tag = uuid.uuid4().hex[:6]
        self.prefix = f'cnb{tag}'
        net = random.Random(tag).randrange(0, 1 << 16)
        self.net = f'10.{200 + net % 50}.{net >> 8}'
        self.server_ns = f'{self.prefix}-srv'
        self.server_ip = f'{self.net}.1'
        self.hosts: list[tuple[str, str]] = []      # (namespace, address)
        self._made: list[str] = []
        atexit.register(self.close)
        try:
            self._add_ns(self.server_ns)
            _ip('-n', self.server_ns, 'link', 'add', 'br0', 'type', 'bridge')
            _ip('-n', self.server_ns, 'addr', 'add', f'{self.server_ip}/24', 'dev', 'br0')
            _ip('-n', self.server_ns, 'link', 'set', 'br0', 'up')
            for i in range(1, hosts + 1):
                ns, addr = f'{self.prefix}-h{i}', f'{self.net}.{10 + i}'
                self._add_ns(ns)
                # both ends born in their namespaces: the root namespace never sees them
                _ip('-n', ns, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', f'h{i}',
                    'netns', self.server_ns)
                _ip('-n', self.server_ns, 'link', 'set', f'h{i}', 'master', 'br0', 'up')
                _ip('-n', ns, 'addr', 'add', f'{addr}/24', 'dev', 'eth0')
                _ip('-n', ns, 'link', 'set', 'eth0', 'up')
                self.hosts.append((ns, addr))
        except BaseException:
            self.close()
            raise

    def _add_ns(self, name: str) -> None:
        _ip('netns', 'add', name)
        self._made.append(name)
        _ip('-n', name, 'link', 'set', 'lo', 'up')

    def exec_argv(self, ns: str, argv: list[str]) -> list[str]:
        """argv run inside namespace ns."""
        return ['ip', 'netns', 'exec', ns, *argv]

    def close(self) -> None:
        """Delete every namespace made (their veth and bridge links go with them)."""
        while self._made:
            name = self._made.pop()
            subprocess.run(['ip', 'netns', 'del', name], capture_output=True)
