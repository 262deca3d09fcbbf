"""Run in a subprocess by test_cas_store: threads read and write one SQLite store while the main
thread closes it again and again (what setup() does to the previous store while a lineage
redraw or another thread is still using it). A crash here kills only this process."""
from __future__ import annotations

import sys
import threading
import time

from cinder_nb.persistence import ANY, PersistenceError, StaleRecord, Write
from cinder_nb.persistence.sql import SQLPersistence


def main(path: str, seconds: float) -> None:
    store = SQLPersistence(f'sqlite:///{path}')
    store.put_many([('volume', {'id': f'v{n}', 'backend': 'b', 'size': 1, 'status': 'available',
                                'name': 'x' * 200}) for n in range(2000)])
    stop, errors, rounds = threading.Event(), [], [0]

    def use() -> None:
        n = 0
        while not stop.is_set():
            try:
                assert len(store.list_versioned('volume', backend='b')) == 2000
                store.get_versioned('volume', f'v{n % 2000}')
                store.allocated_gb('b')
                mine = f'w{threading.get_ident()}'
                store.commit([Write('volume', mine, {'id': mine, 'backend': 'c', 'size': 1}, ANY)])
            except (PersistenceError, StaleRecord):    # typed refusals are allowed, crashes are not
                pass
            except BaseException as exc:               # noqa: BLE001  (reported to the test)
                errors.append(repr(exc))
            n += 1
            rounds[0] += 1

    threads = [threading.Thread(target=use) for _ in range(4)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + seconds
    closes = 0
    while time.monotonic() < deadline:
        store.close()
        closes += 1
        time.sleep(0.001)
    stop.set()
    for t in threads:
        t.join()
    store.close()
    print(f'closes={closes} rounds={rounds[0]} errors={errors[:3]}')
    sys.exit(1 if errors else 0)


if __name__ == '__main__':
    main(sys.argv[1], float(sys.argv[2]))
