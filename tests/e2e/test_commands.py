"""The commands beyond create, end to end on real hosts: restart, upgrade, scp, mount."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

from tests.e2e.conftest import CLI
from tests.e2e.test_generic import _create

Hosts = Any


def test_restart_reboots_an_existing_server(
    cli: CLI, host_factory: Hosts, ssh_key: tuple[Path, str], busybox: Path
) -> None:
    host = host_factory("docker")
    _create(cli, "rb", host, ssh_key[0])
    before = cli("ssh", "rb", "cat /proc/1/stat | cut -d' ' -f22").stdout.strip()
    result = cli("restart", "rb")
    assert 'Restarting "rb"...' in result.stderr
    assert "Restarted machines may have new IP addresses." in result.stderr
    after = cli("ssh", "rb", "cat /proc/1/stat | cut -d' ' -f22").stdout.strip()
    assert after != before  # a new init process: the host really rebooted
    out = cli.bash('eval "$(machine env rb)"; docker info --format "{{.Name}}"')
    assert out.stdout.strip() == "rb", out.stderr
    assert "generic driver does not support stop" in cli("stop", "rb", check=False).stderr


def test_upgrade_when_already_newest(
    cli: CLI, host_factory: Hosts, ssh_key: tuple[Path, str]
) -> None:
    host = host_factory("plain")  # its package sources are the test network's repository
    _create(cli, "up", host, ssh_key[0])
    pid = host.exec("systemctl show -p MainPID --value docker").stdout.strip()
    result = cli("upgrade", "up")
    assert "Upgrading docker..." in result.stderr
    assert "already the newest version" in result.stderr
    assert host.exec("systemctl show -p MainPID --value docker").stdout.strip() == pid


def test_scp_between_here_and_machines(
    cli: CLI, host_factory: Hosts, ssh_key: tuple[Path, str], tmp_path: Path
) -> None:
    a, b = host_factory("docker"), host_factory("docker")
    _create(cli, "ma", a, ssh_key[0])
    _create(cli, "mb", b, ssh_key[0])
    src = tmp_path / "hello.txt"
    src.write_text("hello over scp\n")
    cli("scp", str(src), "ma:/root/hello.txt")
    assert a.exec("cat /root/hello.txt").stdout == "hello over scp\n"
    # machine to machine (through this computer), then back here
    cli("scp", "ma:/root/hello.txt", "mb:/root/copied.txt")
    assert b.exec("cat /root/copied.txt").stdout == "hello over scp\n"
    back = tmp_path / "back.txt"
    cli("scp", "-q", "mb:/root/copied.txt", f"localhost:{back}")
    assert back.read_text() == "hello over scp\n"
    # a directory, recursively, with rsync sending only differences
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "sub" / "f").write_text("x" * 1000)
    cli("scp", "-r", "-d", str(tree), "ma:/root/")
    assert a.exec("wc -c < /root/tree/sub/f").stdout.strip() == "1000"
    # a missing file: scp's own exit code and message come through
    missing = cli("scp", "ma:/nonexistent", str(tmp_path / "x"), check=False)
    assert missing.returncode == 1


def test_mount_and_unmount(
    cli: CLI, host_factory: Hosts, ssh_key: tuple[Path, str], tmp_path: Path
) -> None:
    host = host_factory("docker")
    _create(cli, "mnt", host, ssh_key[0])
    host.exec("mkdir -p /srv/share && echo shared > /srv/share/file")
    mountpoint = tmp_path / "mnt"
    mountpoint.mkdir()
    cli("mount", "mnt:/srv/share", str(mountpoint))
    try:
        deadline = time.monotonic() + 60
        while not (mountpoint / "file").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert (mountpoint / "file").read_text() == "shared\n"
    finally:
        cli("mount", "-u", "mnt:/srv/share", str(mountpoint), check=False)
    assert subprocess.run(["mountpoint", "-q", str(mountpoint)]).returncode != 0
