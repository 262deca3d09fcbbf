"""Command agent inside the test guest (standard library only).

One request per TCP connection (connections are served concurrently): a JSON line ``{"token", "argv", "timeout", "cwd", "env"}``;
the answer is one JSON line ``{"rc", "output"}`` (stdout and stderr merged). ``argv ==
["poweroff"]`` answers and ends the agent; the guest's init then powers the guest off. The
listener binds the guest's slirp address, which qemu forwards from the host's 127.0.0.1 only;
the token (a file in the host-only transfer directory) keeps other local users out.
"""
import argparse
import hmac
import json
import os
import socket
import subprocess
import threading


def serve(bind: str, port: int, token: str) -> None:
    """Answer requests until one asks for poweroff; each connection in its own thread, so the
    host can look into the guest (ps, uptime) while the long pytest request runs."""
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((bind, port))
    srv.listen(8)
    stop = threading.Event()

    def one(sock: socket.socket) -> None:
        with sock:
            if handle(sock, token):
                stop.set()
                srv.shutdown(socket.SHUT_RDWR)   # wakes accept() in serve()

    while not stop.is_set():
        try:
            sock, _ = srv.accept()
        except OSError:
            break
        threading.Thread(target=one, args=(sock,), daemon=True).start()
    srv.close()


def handle(sock: socket.socket, token: str) -> bool:
    data = b''
    while not data.endswith(b'\n'):
        chunk = sock.recv(65536)
        if not chunk:
            return False
        data += chunk
    try:
        req = json.loads(data)
    except ValueError:
        return False
    if not hmac.compare_digest(str(req.get('token', '')), token):
        sock.sendall(b'{"rc": -1, "output": "bad token"}\n')
        return False
    argv = req.get('argv') or []
    if argv == ['poweroff']:
        sock.sendall(b'{"rc": 0, "output": ""}\n')
        return True
    env = dict(os.environ, **(req.get('env') or {}))
    try:
        proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                              cwd=req.get('cwd') or '/', timeout=req.get('timeout') or 600)
        answer = {'rc': proc.returncode, 'output': proc.stdout.decode('utf-8', 'replace')}
    except subprocess.TimeoutExpired as exc:
        answer = {'rc': -9, 'output': (exc.output or b'').decode('utf-8', 'replace') + '\n[agent: timed out]'}
    except OSError as exc:
        answer = {'rc': -2, 'output': f'[agent: {exc}]'}
    sock.sendall(json.dumps(answer).encode() + b'\n')
    return False


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument('--bind', required=True)
    parser.add_argument('--port', type=int, required=True)
    parser.add_argument('--token-file', required=True)
    args = parser.parse_args()
    with open(args.token_file) as fh:
        token = fh.read().strip()
    serve(args.bind, args.port, token)


if __name__ == '__main__':
    main()
