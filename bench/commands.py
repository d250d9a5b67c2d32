"""The commands scripts run in loops, each against a bare interpreter start.

Goals (issue 14): env, ip, url, status, inspect, config, active, ls -q and version each take at
most 4x `python -c pass` of the same interpreter (goal 1), and so does `create -d none` into a
store whose CA exists (goal 3: each round creates a machine of its own). Runs are paired (one
of each command per round, RUNS rounds) and the median of each is compared with the bare
start's median. The machine is a generic record with real certificates whose engine (a TLS
listener here, with the machine's server certificate) and SSH port (a plain listener) are on
127.0.0.1, so `config` makes its TLS handshake and `status`/`active` their connection as they
would with a real host.
A `docker-machine` binary on PATH, if any, is timed on the same store for comparison.

Run: .venv/bin/python bench/commands.py [RUNS]
"""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import MACHINE
from bench.env_and_ls import _generic_record

GOAL = 4.0


def _listen(tls: ssl.SSLContext | None) -> int:
    """A listener on 127.0.0.1 that accepts (and with `tls`, completes a handshake) forever."""
    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            conn, _ = server.accept()
            try:
                if tls is not None:
                    conn.settimeout(5)
                    tls.wrap_socket(conn, server_side=True).close()
            except (OSError, ssl.SSLError):
                pass
            finally:
                conn.close()

    threading.Thread(target=serve, daemon=True).start()
    return int(server.getsockname()[1])


def _paired(commands: dict[str, list[str]], env: dict[str, str], runs: int) -> dict[str, float]:
    times: dict[str, list[float]] = {name: [] for name in commands}
    for round_ in range(runs):
        for name, template in commands.items():
            argv = [word.replace("{n}", str(round_)) for word in template]  # create: a new name
            start = time.perf_counter()
            subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 21
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("DOCKER_", "MACHINE_"))},
            "MACHINE_STORAGE_PATH": tmp,
            "SHELL": "/bin/bash",
        }
        subprocess.run(  # makes the store's CA
            [MACHINE, "create", "-d", "none", "--url", "tcp://127.0.0.1:9", "m0"],
            env=env,
            check=True,
            capture_output=True,
        )
        _generic_record(root, "g0", "127.0.0.1")
        mdir = root / "machines" / "g0"
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(mdir / "server.pem", mdir / "server-key.pem")
        tls.load_verify_locations(mdir / "ca.pem")
        tls.verify_mode = ssl.CERT_REQUIRED
        engine, sshd = _listen(tls), _listen(None)
        config = (mdir / "config.json").read_text()
        config = config.replace('"EnginePort": 2376', f'"EnginePort": {engine}')
        (mdir / "config.json").write_text(config.replace('"SSHPort": 22', f'"SSHPort": {sshd}'))
        env["DOCKER_HOST"] = f"tcp://127.0.0.1:{engine}"
        subprocess.run([MACHINE, "env", "g0"], env=env, check=True, capture_output=True)
        timed = {
            "env": ["env", "g0"],
            "ip": ["ip", "g0"],
            "url": ["url", "g0"],
            "status": ["status", "g0"],
            "inspect": ["inspect", "g0"],
            "config": ["config", "g0"],
            "active": ["active"],
            "ls -q": ["ls", "-q"],
            "version": ["version"],
            "create -d none": ["create", "-d", "none", "--url", "tcp://127.0.0.1:9", "c{n}"],
        }
        for args in timed.values():  # each must work before it is timed
            args = [word.replace("{n}", "-first") for word in args]
            subprocess.run([MACHINE, *args], env=env, check=True, capture_output=True)
        commands = {"python -c pass": [sys.executable, "-c", "pass"]}
        commands.update({f"machine {name}": [MACHINE, *args] for name, args in timed.items()})
        dm = shutil.which("docker-machine")
        if dm:
            commands.update(
                {
                    f"docker-machine {n}": [dm, *(w.replace("c{n}", "d{n}") for w in args)]
                    for n, args in timed.items()
                }
            )
        medians = _paired(commands, env, runs)
    bare = medians["python -c pass"]
    print(f"{'python -c pass':26s} {bare * 1000:7.1f} ms   (median of {runs}, paired rounds)")
    for name in timed:
        ours = medians[f"machine {name}"]
        ratio = ours / bare
        verdict = "ok" if ratio <= GOAL else f"OVER (goal {GOAL:.0f}x)"
        line = f"{'machine ' + name:26s} {ours * 1000:7.1f} ms {ratio:5.1f}x bare  {verdict}"
        if dm:
            theirs = medians[f"docker-machine {name}"]
            line += f"; docker-machine {theirs * 1000:.1f} ms, ours/theirs {ours / theirs:.2f}"
        print(line)


if __name__ == "__main__":
    main()
