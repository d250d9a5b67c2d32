"""`scp` and `mount`: locations like `[user@]machine:path`, and the OpenSSH-family commands
(scp, rsync, sshfs) that move files, all checking each machine's pinned host key.

One generated ssh_config (a private temporary file) names each machine as a host alias with its
address, port, user, key and pinned known_hosts, so copies between two machines work too.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from machine.errors import UsageError
from machine.remote.ssh import Target, check_target, config_value


@dataclass(frozen=True)
class Location:
    path: str
    machine: str = ""  # "" for a local path (also written `localhost:path`)
    user: str = ""


def parse_location(text: str) -> Location:
    """`[user@]machine:path` names a machine; `localhost:path`, text without a colon, and (as
    for scp) a slash before the first colon are local. Before the colon, only a machine name."""
    from machine.addresses import ssh_user_problem
    from machine.store.filestore import validate_name

    head, colon, path = text.partition(":")
    if not colon or head == "localhost" or "/" in head:
        return Location(path=path if head == "localhost" else text)
    user, at, machine = head.rpartition("@")
    if at and (why := ssh_user_problem(user)):
        raise UsageError(f"Error: {why}")
    validate_name(machine)
    return Location(path=path, machine=machine, user=user)


def host_alias(machine: str) -> str:
    return f"machine-{machine}"


def ssh_config(targets: dict[str, Target]) -> str:
    """An OpenSSH client config with one `Host machine-NAME` block per machine. Every value is
    validated or quoted (config_value): a record cannot add a line such as ProxyCommand."""
    blocks = []
    for name, t in sorted(targets.items()):
        check_target(t)
        lines = [
            f"Host {host_alias(name)}",
            f"  HostName {t.host}",
            f"  Port {t.port}",
            f"  User {t.user}",
            f"  HostKeyAlias {t.alias}",
            f"  UserKnownHostsFile {config_value(str(t.known_hosts), path=True)}",
            "  StrictHostKeyChecking yes",
            "  PasswordAuthentication no",
            "  LogLevel quiet",
            "  ControlMaster no",
            "  ControlPath none",
        ]
        if t.key_path:
            lines += [
                f"  IdentityFile {config_value(t.key_path, path=True)}",
                "  IdentitiesOnly yes",
            ]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


@contextmanager
def config_file(targets: dict[str, Target]) -> Iterator[str]:
    """The config in a private temporary file for the life of one command."""
    fd, path = tempfile.mkstemp(prefix="machine-ssh-", suffix=".conf")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(ssh_config(targets))
        yield path
    finally:
        os.unlink(path)


def remote_arg(loc: Location) -> str:
    if not loc.machine:
        return loc.path
    user = f"{loc.user}@" if loc.user else ""
    return f"{user}{host_alias(loc.machine)}:{loc.path}"


def scp_argv(config: str, src: Location, dst: Location, recursive: bool, quiet: bool) -> list[str]:
    argv = ["scp", "-F", config]
    if src.machine and dst.machine:
        argv.append("-3")  # between two machines: through this computer, like docker-machine
    if recursive:
        argv.append("-r")
    if quiet:
        argv.append("-q")
    return [*argv, "--", remote_arg(src), remote_arg(dst)]


def rsync_argv(
    config: str, src: Location, dst: Location, recursive: bool, quiet: bool
) -> list[str]:
    if src.machine and dst.machine:
        raise UsageError(
            "--delta (rsync) cannot copy between two machines; copy through a local folder instead"
        )
    if any(c in config for c in "'\"\\ \n"):  # rsync splits -e's value on blanks and quotes
        raise UsageError(f"--delta cannot use a temporary folder like {config!r} (set TMPDIR)")
    argv = ["rsync", "-e", f"ssh -F {config}"]
    if not quiet:
        argv.append("--progress")
    if recursive:
        argv.append("-r")
    return [*argv, "--", remote_arg(src), remote_arg(dst)]


def sshfs_argv(config: str, src: Location, mountpoint: str) -> list[str]:
    return ["sshfs", "-F", config, "--", remote_arg(src), mountpoint]


def unmount_argv(mountpoint: str) -> list[str]:
    return ["fusermount", "-u", mountpoint]
