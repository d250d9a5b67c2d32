"""`ls -t` is a hard limit: with three of five generic hosts whose TCP connects hang (their
SYNs are dropped), the two live machines still get complete rows (state, URL, engine version)
and the three others show Timeout, and the command ends at its deadline, not after the hung
dials (docker-machine's behaviour; it used to take 15 s and show every row as Timeout)."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from testbed.hosts import SUBNET_PREFIX, run
from tests.e2e.conftest import _next_index
from tests.e2e.test_generic import _create
from tests.machinecli import CLI

Hosts = Any


@pytest.fixture
def silent_address(_prereqs: None) -> Iterator[str]:
    """An address in a namespace of its own that drops every TCP packet: connects hang."""
    index = next(_next_index)
    ns, veth = f"mt{index}", f"mtv{index}"
    gateway, address = f"{SUBNET_PREFIX}.{index}.1", f"{SUBNET_PREFIX}.{index}.2"
    run(["ip", "netns", "del", ns], check=False)  # leftovers of an earlier run
    run(["ip", "link", "del", veth], check=False)
    try:
        run(["ip", "netns", "add", ns])
        run(["ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns])
        run(["ip", "addr", "add", f"{gateway}/30", "dev", veth])
        run(["ip", "link", "set", veth, "up"])
        run(["ip", "-n", ns, "addr", "add", f"{address}/30", "dev", "eth0"])
        run(["ip", "-n", ns, "link", "set", "eth0", "up"])
        run(["ip", "netns", "exec", ns, "iptables", "-A", "INPUT", "-p", "tcp", "-j", "DROP"])
        yield address
    finally:
        run(["ip", "netns", "del", ns], check=False)
        run(["ip", "link", "del", veth], check=False)


def test_ls_timeout_is_a_hard_limit(
    cli: CLI, host_factory: Hosts, ssh_key: tuple[Path, str], silent_address: str
) -> None:
    live = [host_factory("docker") for _ in range(2)]
    for n, host in enumerate(live):
        _create(cli, f"live{n}", host, ssh_key[0])
    template = cli.store / "machines/live0"
    for n in range(3):
        folder = cli.store / f"machines/hung{n}"
        shutil.copytree(template, folder)
        config = json.loads((folder / "config.json").read_text())
        config["Name"] = config["Driver"]["MachineName"] = f"hung{n}"
        config["Driver"]["IPAddress"] = silent_address
        (folder / "config.json").write_text(json.dumps(config))

    started = time.monotonic()
    result = cli("ls", "-t", "2")
    elapsed = time.monotonic() - started
    rows = {line.split()[0]: line.split() for line in result.stdout.splitlines()[1:]}
    for n, host in enumerate(live):
        row = rows[f"live{n}"]
        assert row[2:5] == ["generic", "Running", f"tcp://{host.ip}:2376"], row
        assert row[5].startswith("v") and row[5][1].isdigit(), row  # the engine's version
    for n in range(3):
        assert rows[f"hung{n}"][2:4] == ["generic", "Timeout"], rows[f"hung{n}"]
    # the hung dials (5 s each) did not hold the command up: 15 s was the old figure
    assert elapsed < 15, elapsed
    print(f"ls -t 2 with 3 hung hosts took {elapsed:.2f} s")
