"""Run a kbqa command with every non-loopback connection refused and recorded.

    python tests/offline_guard.py LOGFILE kbqa-args...

An audit hook sees every socket connect, send-to-address and name lookup; anything that is not
127.0.0.0/8, ::1 or localhost is written to LOGFILE and refused with an exception.

``bootstrap(folder)`` writes a ``sitecustomize.py`` that installs the same hook in every Python
process started with that folder on ``PYTHONPATH`` and ``KBQA_OFFLINE_GUARD_LOG`` set: the
Streamlit server ``kbqa app`` execs, and any worker process a command starts.
"""

from __future__ import annotations

import ipaddress
import sys
from pathlib import Path

LOCAL_NAMES = {"localhost", "127.0.0.1", "::1", "", None}
LOG_ENV = "KBQA_OFFLINE_GUARD_LOG"
ADDRESS_EVENTS = {"socket.connect", "socket.sendto", "socket.sendmsg"}  # args: (socket, address)
HOST_EVENTS = {  # args: (host name or address, ...)
    "socket.getaddrinfo",
    "socket.gethostbyname",
    "socket.gethostbyname_ex",
    "socket.gethostbyaddr",
}


def _is_local(host: object) -> bool:
    if host in LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(str(host)).is_loopback
    except ValueError:
        return False


def install(log_path: str) -> None:
    def hook(event: str, args: tuple) -> None:
        if event in HOST_EVENTS:
            host = args[0]
        elif event in ADDRESS_EVENTS:
            if not isinstance(args[1], tuple):
                return  # AF_UNIX sockets, and sends on a connected socket, stay here
            host = args[1][0]
        else:
            return
        if isinstance(host, bytes):
            host = host.decode()
        if not _is_local(host):
            with open(log_path, "a") as log:
                log.write(f"{event} {host}\n")
            raise ConnectionRefusedError(f"offline guard: connection to {host} refused")

    sys.addaudithook(hook)


def bootstrap(folder: Path) -> Path:
    """Write ``folder/sitecustomize.py`` that installs this guard at interpreter start and
    notes the process in ``LOG.armed``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sitecustomize.py").write_text(
        "import importlib.util, os, sys\n"
        f"if os.environ.get({LOG_ENV!r}):\n"
        "    spec = importlib.util.spec_from_file_location(\n"
        f"        'kbqa_offline_guard', {str(Path(__file__).resolve())!r}\n"
        "    )\n"
        "    guard = importlib.util.module_from_spec(spec)\n"
        "    spec.loader.exec_module(guard)\n"
        f"    guard.install(os.environ[{LOG_ENV!r}])\n"
        f"    with open(os.environ[{LOG_ENV!r}] + '.armed', 'a') as armed:\n"
        "        armed.write(f'{os.getpid()} {sys.argv}\\n')\n",
        encoding="utf-8",
    )
    return folder


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
