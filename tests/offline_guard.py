"""Run a kbqa command with every non-loopback connection refused and recorded.

    python tests/offline_guard.py LOGFILE kbqa-args...

``run_in_empty_netns`` runs commands in an empty network namespace instead, for native code.

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


# --- the empty network namespace -------------------------------------------------------------
#
# The audit hook sees Python's sockets only; a native library (xllamacpp, tokenizers, onnx) could
# open its own. ``run_in_empty_netns`` runs commands in a new network namespace whose only
# interfaces are loopback and ``kbqa-out``, a tun device nothing reads: the default route points
# into it, so every packet bound for the outside (TCP, UDP, a DNS query to the nameserver of a
# private /etc/resolv.conf) is dropped there and counted, whoever sent it.

SINK = "kbqa-out"
NETNS_SETUP = [
    ["ip", "link", "set", "lo", "up"],
    ["ip", "tuntap", "add", "dev", SINK, "mode", "tun"],
    ["sh", "-c", f"echo 1 > /proc/sys/net/ipv6/conf/{SINK}/disable_ipv6"],  # no IPv6 chatter
    ["ip", "link", "set", SINK, "up"],
    ["ip", "addr", "add", "192.0.2.1/24", "dev", SINK],  # TEST-NET-1: never a real host
    ["ip", "route", "add", "default", "dev", SINK],
]
NAMESERVER = "192.0.2.53"  # behind the sink, so a native resolver's query is counted too


def netns_problem() -> str | None:
    """Why an empty network namespace cannot be made here, or None."""
    import os
    import shutil
    import subprocess

    if os.geteuid() != 0:
        return "creating a network namespace needs root"
    for tool in ("unshare", "ip", "mount"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (util-linux, iproute2)"
    probe = subprocess.run(
        ["unshare", "--net", "--mount", "--", "ip", "tuntap", "add", "dev", SINK, "mode", "tun"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    if probe.returncode != 0:
        return f"unshare --net --mount / a tun device failed: {probe.stderr.strip()}"
    return None


def sink_packets() -> int:
    """Packets the sink took (sent or dropped), from this namespace's /proc/net/dev."""
    for line in Path("/proc/net/dev").read_text().splitlines():
        name, _, counters = line.partition(":")
        if name.strip() == SINK:
            fields = [int(n) for n in counters.split()]
            return fields[9] + fields[11]  # transmit packets + transmit drops
    raise RuntimeError(f"{SINK} is missing from /proc/net/dev")


def _netns_main(spec_path: str) -> None:
    """Inside ``unshare --net --mount``: set the namespace up, run the commands, report JSON."""
    import json
    import subprocess
    import tempfile

    spec = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    for step in NETNS_SETUP:
        subprocess.run(step, check=True, capture_output=True, timeout=30)
    resolv = Path(tempfile.mkdtemp()) / "resolv.conf"
    # One try, one second: a lookup is counted as soon as its query leaves, no need to wait.
    resolv.write_text(f"nameserver {NAMESERVER}\noptions timeout:1 attempts:1\n", encoding="utf-8")
    subprocess.run(["mount", "--bind", str(resolv), "/etc/resolv.conf"], check=True, timeout=30)
    interfaces = sorted(
        line.partition(":")[0].strip()
        for line in Path("/proc/net/dev").read_text().splitlines()[2:]
    )
    baseline = sink_packets()
    results = []
    for command in spec["commands"]:
        before = sink_packets()
        out = subprocess.run(
            command["argv"],
            capture_output=True,
            text=True,
            env={**spec["env"], **command.get("env", {})},
            timeout=spec.get("timeout", 600),
        )
        results.append(
            {
                "argv": command["argv"],
                "returncode": out.returncode,
                "stderr": out.stderr[-2000:],
                "sink_packets": sink_packets() - before,
            }
        )
    report = {"interfaces": interfaces, "sink_packets": sink_packets() - baseline}
    report["results"] = results
    Path(spec["report"]).write_text(json.dumps(report), encoding="utf-8")


def run_in_empty_netns(
    commands: list[dict], env: dict[str, str], report: Path, timeout: float = 600
) -> dict:
    """Run ``commands`` (each ``{"argv": [...], "env": {...}}``) one after another in one empty
    network namespace; return ``{"interfaces", "sink_packets", "results"}``."""
    import json
    import subprocess

    spec = report.with_suffix(".spec.json")
    spec.write_text(
        json.dumps({"commands": commands, "env": env, "report": str(report), "timeout": timeout}),
        encoding="utf-8",
    )
    out = subprocess.run(
        ["unshare", "--net", "--mount", "--", sys.executable, __file__, "--netns", str(spec)],
        capture_output=True,
        text=True,
        timeout=timeout * (len(commands) + 1),
    )
    if out.returncode != 0:
        raise RuntimeError(f"the empty network namespace failed: {out.stderr[-2000:]}")
    return json.loads(report.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


if __name__ == "__main__":
    if sys.argv[1] == "--netns":
        _netns_main(sys.argv[2])
        sys.exit(0)
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
