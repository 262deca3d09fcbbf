"""A keyring backend (``keyring.backend.KeyringBackend``) storing its entries in a JSON file.

Test stand-in for an OS keyring (this machine has no Secret Service / D-Bus session):
a process selects it the way a user selects any backend, with
``PYTHON_KEYRING_BACKEND=tests.state.file_keyring.FileKeyring``; the file is
``$CNB_TEST_KEYRING_FILE``. cinder_nb reads it through the real ``keyring`` API.
"""
from __future__ import annotations

import json
import os

from keyring.backend import KeyringBackend


class FileKeyring(KeyringBackend):
    priority = 1

    def _path(self) -> str:
        return os.environ['CNB_TEST_KEYRING_FILE']

    def _load(self) -> dict:
        try:
            with open(self._path()) as f:
                return json.load(f)
        except FileNotFoundError:
            return {}

    def get_password(self, service, username):
        return self._load().get(f'{service}\0{username}')

    def set_password(self, service, username, password):
        data = self._load()
        data[f'{service}\0{username}'] = password
        with open(self._path(), 'w') as f:
            json.dump(data, f)

    def delete_password(self, service, username):
        data = self._load()
        data.pop(f'{service}\0{username}', None)
        with open(self._path(), 'w') as f:
            json.dump(data, f)
