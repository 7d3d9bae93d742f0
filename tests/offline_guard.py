"""Run a kbqa command with every non-loopback connection refused and recorded.

    python tests/offline_guard.py LOGFILE kbqa-args...

An audit hook sees every ``socket.connect`` and ``socket.getaddrinfo``; anything that is not
127.0.0.0/8, ::1 or localhost is written to LOGFILE and refused with an exception.
"""

from __future__ import annotations

import ipaddress
import sys

LOCAL_NAMES = {"localhost", "127.0.0.1", "::1", "", None}


def _is_local(host: object) -> bool:
    if host in LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(str(host)).is_loopback
    except ValueError:
        return False


def install(log_path: str) -> None:
    def hook(event: str, args: tuple) -> None:
        host = None
        if event == "socket.connect":
            address = args[1]
            if isinstance(address, tuple):
                host = address[0]
            else:
                return  # AF_UNIX sockets stay on this machine
        elif event == "socket.getaddrinfo":
            host = args[0]
        else:
            return
        if isinstance(host, bytes):
            host = host.decode()
        if not _is_local(host):
            with open(log_path, "a") as log:
                log.write(f"{event} {host}\n")
            raise ConnectionRefusedError(f"offline guard: connection to {host} refused")

    sys.addaudithook(hook)


if __name__ == "__main__":
    install(sys.argv[1])
    if sys.argv[2] == "--selftest":
        import socket

        try:
            socket.create_connection(("93.184.216.34", 80), timeout=1)
        except ConnectionRefusedError as exc:
            print(exc)
            sys.exit(0)
        sys.exit(3)
    from rag.cli import main

    sys.exit(main(sys.argv[2:]))
