"""Helpers for run.sh: free ports, throw-away Postgres databases, waiting for HTTP.

Usage:
  support.py free-port
  support.py create-db ADMIN_URL          -> prints "NAME URL" of a new, empty database
  support.py drop-db ADMIN_URL NAME
  support.py wait-http URL SECONDS PID... -> waits until URL answers anything but 502/503/504

create-db/drop-db need pg8000 (installed in the tools venv by run.sh); the rest is stdlib.
Only databases named identity_clients_<hex> are ever dropped.
"""

import os
import re
import secrets
import socket
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

PREFIX = "identity_clients_"


def free_port() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        print(s.getsockname()[1])


def _connect(admin_url: str):
    import pg8000.native  # installed by run.sh in the tools venv

    u = urllib.parse.urlsplit(admin_url)
    return pg8000.native.Connection(
        user=urllib.parse.unquote(u.username or "postgres"),
        password=urllib.parse.unquote(u.password) if u.password else None,
        host=u.hostname or "127.0.0.1",
        port=u.port or 5432,
        database=(u.path or "/postgres").lstrip("/") or "postgres",
    )


def create_db(admin_url: str) -> None:
    name = PREFIX + secrets.token_hex(8)
    conn = _connect(admin_url)
    try:
        conn.run(f'CREATE DATABASE "{name}"')
    finally:
        conn.close()
    u = urllib.parse.urlsplit(admin_url)
    print(name, urllib.parse.urlunsplit((u.scheme, u.netloc, "/" + name, u.query, u.fragment)))


def drop_db(admin_url: str, name: str) -> None:
    if not re.fullmatch(PREFIX + "[0-9a-f]{16}", name):
        sys.exit(f"refusing to drop {name!r}: not a database made by this script")
    conn = _connect(admin_url)
    try:
        conn.run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        conn.close()


def wait_http(url: str, seconds: str, *pids: str) -> None:
    deadline = time.monotonic() + float(seconds)
    last = "no answer"
    while time.monotonic() < deadline:
        for pid in pids:
            try:
                os.kill(int(pid), 0)
            except OSError:
                sys.exit(f"process {pid} exited while waiting for {url}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                status = r.status
        except urllib.error.HTTPError as e:
            status = e.code
        except OSError as e:
            status, last = None, str(e)
        if status is not None and status not in (502, 503, 504):
            return
        if status is not None:
            last = f"HTTP {status}"
        time.sleep(0.2)
    sys.exit(f"{url} not ready after {seconds}s ({last})")


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    {"free-port": free_port, "create-db": create_db, "drop-db": drop_db, "wait-http": wait_http}[cmd](*args)
