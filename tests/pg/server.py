"""A throw-away PostgreSQL server on 127.0.0.1 for the tests (Debian package ``postgresql``).

``postgresql_url`` (fixture) starts one server per test session (initdb into a temp
dir, listening on 127.0.0.1 and a socket in that dir only) and gives each test a
fresh, empty database. As root, the server runs as the ``postgres`` system user
(postgres refuses to run as root) through ``runuser``. The test is skipped, with
the reason, only when the server binaries or psycopg are missing.
"""
from __future__ import annotations

import atexit
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import threading
import time
import uuid

import pytest

from tests.helpers import free_port

SUPERUSER = 'cinder_nb'


def find_bindir() -> str | None:
    """The directory of initdb/pg_ctl/postgres: Debian's newest /usr/lib/postgresql/N/bin or PATH."""
    candidates = sorted(glob.glob('/usr/lib/postgresql/*/bin/initdb'),
                        key=lambda p: int(p.split('/')[4]) if p.split('/')[4].isdigit() else 0)
    if candidates:
        return os.path.dirname(candidates[-1])
    found = shutil.which('initdb')
    return os.path.dirname(os.path.realpath(found)) if found else None


class PostgresServer:
    """One initdb'd cluster, started with pg_ctl, stopped at interpreter exit."""

    _instance: 'PostgresServer | None' = None
    _lock = threading.Lock()

    def __init__(self, bindir: str, listen: str = '127.0.0.1', netns: str | None = None,
                 extra_conf: str = '', trust_net: str | None = None) -> None:
        """listen: the address to serve on; netns: start the server inside that network
        namespace (``ip netns``); extra_conf: lines appended to postgresql.conf;
        trust_net: a CIDR whose clients may connect (pg_hba.conf) besides localhost."""
        self.bindir = bindir
        self.listen = listen
        self.netns = netns
        self.root = tempfile.mkdtemp(prefix='cinder_nb-pg-')
        self.data = os.path.join(self.root, 'data')
        self.port = free_port()
        self.run_as: str | None = None
        if os.geteuid() == 0:
            self.run_as = 'postgres'
            pw = pwd.getpwnam('postgres')      # created by the Debian package
            os.chmod(self.root, 0o755)
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
        self._run([os.path.join(bindir, 'initdb'), '-D', self.data, '-U', SUPERUSER, '-A', 'trust',
                   '-E', 'UTF8', '--no-sync'])
        with open(os.path.join(self.data, 'postgresql.conf'), 'a') as f:
            f.write(f"\nlisten_addresses = '{listen}'\nport = {self.port}\n"
                    f"unix_socket_directories = '{self.root}'\nfsync = on\nmax_connections = 50\n"
                    + extra_conf)
        if trust_net:
            with open(os.path.join(self.data, 'pg_hba.conf'), 'a') as f:
                f.write(f'\nhost all all {trust_net} trust\n')
        start = [os.path.join(bindir, 'pg_ctl'), '-D', self.data, '-l', os.path.join(self.root, 'log'),
                 '-w', '-t', '60', 'start']
        self._run(start, netns=netns)
        atexit.register(self.stop)

    def _run(self, argv: list[str], netns: str | None = None) -> None:
        if self.run_as:
            argv = ['runuser', '-u', self.run_as, '--'] + argv
        if netns:
            argv = ['ip', 'netns', 'exec', netns] + argv
        proc = subprocess.run(argv, capture_output=True, text=True, cwd=self.root)
        if proc.returncode:
            log = ''
            try:
                with open(os.path.join(self.root, 'log')) as f:
                    log = f.read()[-2000:]
            except OSError:
                pass
            raise RuntimeError(f'{argv} failed ({proc.returncode}): {proc.stderr[-2000:]}{log}')

    def url(self, database: str = 'postgres') -> str:
        return f'postgresql://{SUPERUSER}@{self.listen}:{self.port}/{database}'

    def socket_url(self, database: str = 'postgres') -> str:
        """The URL through the server's unix socket (reachable from any network namespace)."""
        return f'postgresql://{SUPERUSER}@/{database}?host={self.root}&port={self.port}'

    def create_database(self) -> str:
        import psycopg
        name = 't_' + uuid.uuid4().hex[:12]
        with psycopg.connect(self.socket_url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE {name}')
        return self.url(name)

    def stop(self) -> None:
        if os.path.exists(os.path.join(self.data, 'postmaster.pid')):
            try:
                self._run([os.path.join(self.bindir, 'pg_ctl'), '-D', self.data, '-m', 'immediate', '-w', 'stop'])
            except RuntimeError:
                pass
        shutil.rmtree(self.root, ignore_errors=True)

    @classmethod
    def get(cls) -> 'PostgresServer':
        """The session's server, started on first use; pytest.skip with the reason when impossible."""
        with cls._lock:
            if cls._instance is None:
                bindir = find_bindir()
                if bindir is None:
                    pytest.skip('PostgreSQL server not installed (Debian package postgresql: initdb/pg_ctl '
                                'not found)')
                try:
                    import psycopg  # noqa: F401
                except ImportError:
                    pytest.skip('psycopg not installed (pip install cinder_nb[postgresql])')
                if os.geteuid() == 0:
                    try:
                        pwd.getpwnam('postgres')
                    except KeyError:
                        pytest.skip('no postgres system user to run the server as (install Debian postgresql)')
                started = time.monotonic()
                cls._instance = cls(bindir)
                cls._instance.startup_seconds = time.monotonic() - started
            return cls._instance


@pytest.fixture
def postgresql_url() -> str:
    """URL of a fresh, empty database on the session's PostgreSQL server (127.0.0.1)."""
    return PostgresServer.get().create_database()
