"""SSH to machines with paramiko: one connection per operation, many exec channels, SFTP files.

The host key is pinned in the machine's known_hosts under the machine's name (OpenSSH's
HostKeyAlias), so the pin follows the machine, not its IP. Before first contact the key may be
seeded (cloud-init); otherwise it is trusted on first use and pinned. A different key later is a
hard error that says how to re-pin. Waiting for SSH is a deadline with back-off, not a count.
"""

from __future__ import annotations

import io
import logging
import os
import posixpath
import shlex
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paramiko

from machine.errors import HostKeyMismatch, MachineError, SSHAuthFailed, SSHUnavailable
from machine.store.files import PRIVATE_FILE, write_atomic
from machine.wait import attempts

log = logging.getLogger("machine.remote.ssh")
# paramiko logs a traceback when a port forward (VirtualBox's NAT, QEMU's user networking)
# accepts a connection before the guest's sshd listens, which waiting for SSH expects. With
# no handler of its own, Python would print it to stderr; -D (debug) still shows it.
logging.getLogger("paramiko").addHandler(logging.NullHandler())

CONNECT_TIMEOUT = 10.0  # one TCP connect + SSH handshake attempt
COMMAND_TIMEOUT = 900.0  # an engine install from packages can take minutes on a slow mirror


@dataclass(frozen=True)
class Target:
    host: str
    port: int
    user: str
    key_path: str  # "" means agent and ~/.ssh keys
    known_hosts: Path
    alias: str  # the name the host key is pinned under (the machine name)


@dataclass(frozen=True)
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.code == 0


# --- host key pinning ------------------------------------------------------------------------


def read_pins(path: Path, alias: str) -> list[paramiko.PKey] | None:
    """The keys pinned for `alias`; None when there is no pin file (never contacted)."""
    from machine.store.files import read_small

    try:
        lines = read_small(path, 1 << 20).decode(errors="replace").splitlines()
    except FileNotFoundError:
        return None
    except OSError:
        return []  # there, but unreadable: no usable pin, which fails closed
    keys: list[paramiko.PKey] = []
    for line in lines:
        parts = line.split()
        if len(parts) < 3 or parts[0].startswith("#"):
            continue
        if alias not in parts[0].split(","):
            continue
        try:
            keys.append(paramiko.PKey.from_type_string(parts[1], _b64decode(parts[2])))
        except (paramiko.SSHException, ValueError, TypeError):
            continue
    return keys


def usable_pins(target: Target) -> list[paramiko.PKey] | None:
    """The pinned keys of `target`; None if it was never contacted (no pin file: trust on
    first use may pin one). A pin file without a usable key for it fails closed."""
    pins = read_pins(target.known_hosts, target.alias)
    if pins is not None and not pins:
        raise HostKeyMismatch(
            f'The SSH host key pinned for "{target.alias}" cannot be used: '
            f"{target.known_hosts} holds no valid key for that name. Nothing was changed on "
            "the host.",
            hint="Someone or something has changed that file. If you trust the host as it is "
            f"now, delete {target.known_hosts} and run the command again: its current key is "
            "then pinned.",
        )
    return pins


def pin_line(alias: str, key: paramiko.PKey) -> str:
    return f"{alias} {key.get_name()} {key.get_base64()}\n"


def write_pin(path: Path, alias: str, key: paramiko.PKey) -> None:
    write_atomic(path, pin_line(alias, key), PRIVATE_FILE)


def pin_public_line(target: Target, line: str) -> None:
    """Pin the host key given as an OpenSSH public line ("ssh-ed25519 AAAA...")."""
    kind, _, rest = line.strip().partition(" ")
    key = paramiko.PKey.from_type_string(kind, _b64decode(rest.split()[0]))
    write_pin(target.known_hosts, target.alias, key)


def _b64decode(text: str) -> bytes:
    import base64

    return base64.b64decode(text)


def fingerprint(key: paramiko.PKey) -> str:
    return key.fingerprint  # "SHA256:..."


class _PinPolicy(paramiko.MissingHostKeyPolicy):
    """Called only when no pin exists: trust this first key and pin it."""

    def __init__(self, target: Target) -> None:
        self.target = target

    def missing_host_key(
        self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey
    ) -> None:
        write_pin(self.target.known_hosts, self.target.alias, key)


def _mismatch(target: Target, offered: paramiko.PKey, pinned: paramiko.PKey) -> HostKeyMismatch:
    return HostKeyMismatch(
        f"The SSH host key of {target.host}:{target.port} does not match the one pinned for "
        f'"{target.alias}": it offered {offered.get_name()} {fingerprint(offered)}, '
        f"expected {pinned.get_name()} {fingerprint(pinned)}. Nothing was changed on the host.",
        hint="This can mean someone is intercepting the connection. If the host was "
        f"reinstalled on purpose, delete {target.known_hosts} and run the command again "
        "to pin the new key.",
    )


# --- connections -----------------------------------------------------------------------------


class Connection:
    """An open SSH session to one machine; run commands and put files over it."""

    def __init__(self, client: paramiko.SSHClient, target: Target) -> None:
        self._client = client
        self.target = target
        self._sftp: paramiko.SFTPClient | None = None

    def run(self, command: str, stdin: bytes = b"", timeout: float = COMMAND_TIMEOUT) -> Result:
        transport = self._client.get_transport()
        assert transport is not None
        chan = transport.open_session(timeout=CONNECT_TIMEOUT)
        try:
            chan.settimeout(timeout)
            chan.exec_command(command)
            if stdin:
                chan.sendall(stdin)
            chan.shutdown_write()
            out, err = _drain(chan, timeout)
            code = chan.recv_exit_status()
        finally:
            chan.close()
        # Commands carry no secrets (keys and certs travel over SFTP), so they can be logged.
        log.debug("(%s) %s -> exit %d", self.target.alias, command, code)
        if log.isEnabledFor(logging.DEBUG):  # the output too: what a failed step saw
            for name, data in (("stdout", out), ("stderr", err)):
                if data:
                    log.debug(
                        "(%s) %s: %s",
                        self.target.alias,
                        name,
                        data[-2000:].decode("utf-8", "replace"),
                    )
        return Result(code, out.decode(errors="replace"), err.decode(errors="replace"))

    def sftp(self) -> paramiko.SFTPClient:
        if self._sftp is None:
            self._sftp = self._client.open_sftp()
        return self._sftp

    def put(self, path: str, data: bytes, mode: int) -> None:
        """Write `data` to `path` atomically with `mode` (the user must be able to write there)."""
        sftp = self.sftp()
        tmp = posixpath.join(posixpath.dirname(path), f".{posixpath.basename(path)}.machine-tmp")
        with sftp.open(tmp, "wb") as f:
            f.set_pipelined(True)
            f.write(data)
        sftp.chmod(tmp, mode)
        sftp.posix_rename(tmp, path)
        log.debug("(%s) wrote %s (%04o, %d bytes)", self.target.alias, path, mode, len(data))

    def close(self) -> None:
        if self._sftp is not None:
            self._sftp.close()
        self._client.close()


def _drain(chan: Any, timeout: float) -> tuple[bytes, bytes]:
    """Everything the command wrote, up to the channel's EOF.

    Not up to its exit status: sshd sends that as soon as the command exits, and output
    still in the pipe can follow it (on a busy host, the last lines of a command were lost
    that way: provisioning once read a host's facts without their end).
    """
    out, err = io.BytesIO(), io.BytesIO()
    deadline = time.monotonic() + timeout
    while True:
        got = False
        while chan.recv_ready():
            out.write(chan.recv(65536))
            got = True
        while chan.recv_stderr_ready():
            err.write(chan.recv_stderr(65536))
            got = True
        if (chan.eof_received or chan.closed) and not (
            chan.recv_ready() or chan.recv_stderr_ready()
        ):
            break
        if time.monotonic() > deadline:
            raise TimeoutError("remote command did not finish in time")
        if not got:
            time.sleep(0.005)
    return out.getvalue(), err.getvalue()


def _client_for(target: Target) -> paramiko.SSHClient:
    client = paramiko.SSHClient()
    pins = usable_pins(target)
    if pins:
        # Registering the pin under the name paramiko looks up makes it prefer that key type
        # and raise BadHostKeyException for any other key.
        name = target.host if target.port == 22 else f"[{target.host}]:{target.port}"
        for key in pins:
            client.get_host_keys().add(name, key.get_name(), key)
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
    else:
        client.set_missing_host_key_policy(_PinPolicy(target))
    return client


def check_host_key(target: Target, timeout: float = CONNECT_TIMEOUT) -> None:
    """Raise HostKeyMismatch unless the host offers a pinned key (no login is attempted).
    Used to explain why OpenSSH refused to connect, since it only says so in its exit code."""
    pins = usable_pins(target)
    if not pins:
        return  # never contacted: nothing to compare with
    sock = socket.create_connection((target.host, target.port), timeout=timeout)
    transport = paramiko.Transport(sock)
    try:
        # ask first for the pinned kinds of key, so a host with several offers the pinned one
        wanted = [t for k in pins for t in _KEY_TYPE_NAMES.get(k.get_name(), (k.get_name(),))]
        options = transport.get_security_options()
        known = set(options.key_types)
        options.key_types = tuple(t for t in dict.fromkeys([*wanted, *_KEY_TYPES]) if t in known)
        transport.start_client(timeout=timeout)
        offered = transport.get_remote_server_key()
    finally:
        transport.close()
    if not any(offered == pin for pin in pins):
        raise _mismatch(target, offered, pins[0])


_KEY_TYPES = ("ssh-ed25519", "ecdsa-sha2-nistp256", "rsa-sha2-512", "rsa-sha2-256", "ssh-rsa")
# an RSA key is offered under the names of its signature algorithms
_KEY_TYPE_NAMES = {"ssh-rsa": ("rsa-sha2-512", "rsa-sha2-256", "ssh-rsa")}


def connect_once(target: Target, timeout: float = CONNECT_TIMEOUT) -> Connection:
    client = _client_for(target)
    try:
        client.connect(
            target.host,
            port=target.port,
            username=target.user,
            key_filename=target.key_path or None,
            look_for_keys=not target.key_path,
            allow_agent=not target.key_path,
            timeout=timeout,
            banner_timeout=timeout,
            auth_timeout=timeout,
        )
    except paramiko.BadHostKeyException as exc:
        client.close()
        raise _mismatch(target, exc.key, exc.expected_key) from None
    except BaseException:
        client.close()
        raise
    return Connection(client, target)


def connect(target: Target, deadline: float, retry_auth: bool = False) -> Connection:
    """Connect before `deadline` (time.monotonic()), retrying what can pass with time.

    Refused, unreachable and timed-out connections are retried with back-off. A refused key is
    retried only with `retry_auth` (a freshly booted host may not have its key yet).
    """
    tries = 0
    last: str = "no attempt made"
    # Polled every second at most: a booting host's sshd comes up at an unknown moment, and a
    # refused connect costs nothing; an unreachable address fails on its own ARP timeout (~3 s).
    for remaining in attempts(deadline, cap=1.0):
        tries += 1
        try:
            return connect_once(target, timeout=max(1.0, min(CONNECT_TIMEOUT, remaining)))
        except paramiko.AuthenticationException as exc:
            last = f"authentication failed: {exc}"
            if not retry_auth:
                raise _auth_failed(target) from None
        except (OSError, paramiko.SSHException, EOFError) as exc:
            last = _describe(exc)
    if last.startswith("authentication failed"):
        raise _auth_failed(target)
    raise SSHUnavailable(
        f"SSH on {target.host}:{target.port} did not become available "
        f"({tries} attempts). Last error: {last}",
        hint="Check that the host is up, that its SSH port is reachable from here "
        "(firewall, security group), and the port number.",
    )


def _auth_failed(target: Target) -> SSHAuthFailed:
    key = target.key_path or "your SSH agent and ~/.ssh keys"
    return SSHAuthFailed(
        f"SSH authentication as {target.user}@{target.host}:{target.port} failed with {key}",
        hint="Check the user name and that the key's public half is in the user's "
        "~/.ssh/authorized_keys on the host.",
    )


def _describe(exc: BaseException) -> str:
    if isinstance(exc, socket.timeout | TimeoutError):
        return "connection timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, paramiko.ssh_exception.NoValidConnectionsError):
        return "connection refused"
    text = str(exc) or type(exc).__name__
    return text


@contextmanager
def session(target: Target, deadline: float, retry_auth: bool = False) -> Iterator[Connection]:
    conn = connect(target, deadline, retry_auth)
    try:
        yield conn
    finally:
        conn.close()


# --- interactive `machine ssh` ---------------------------------------------------------------


# OpenSSH's options (ssh(1), 9.x): those that stand alone, and those that take a value.
_SSH_FLAGS = frozenset("46AaCfGgKkMNnqsTtVvXxYy")
_SSH_VALUED = frozenset("BbcDEeFIiJLlmOopQRSWw")


def split_ssh_words(words: list[str]) -> tuple[list[str], list[str]]:
    """(ssh options, remote command) of the words after `machine ssh NAME`.

    As with docker-machine, options before the command go to ssh itself (`-L 8080:h:80`,
    `-N`, `-A`, `-C`), and `--` ends them: `machine ssh web -- sudo docker version`.
    """
    options: list[str] = []
    i = 0
    while i < len(words):
        word = words[i]
        if word == "--":
            return options, words[i + 1 :]
        if not word.startswith("-") or word == "-":
            break
        options.append(word)
        for j, letter in enumerate(word[1:], start=1):
            if letter in _SSH_VALUED:
                if j == len(word) - 1 and i + 1 < len(words):
                    i += 1
                    options.append(words[i])  # the value is the next word
                break
        i += 1
    return options, words[i:]


def config_value(text: str, path: bool = False) -> str:
    """`text` as one value of an OpenSSH config line (or `-o` option): double-quoted, with
    backslashes and quotes escaped; for file names also `%` (a token there). Refused: a
    newline (it would end the line) and `${` (OpenSSH expands it from the environment)."""
    if any(c in text for c in "\n\r\0"):
        raise MachineError(f"{text!r} cannot be passed to OpenSSH: it holds a line break")
    if path and "${" in text:
        raise MachineError(
            f"{text!r} cannot be passed to OpenSSH: it holds '${{'",
            hint="Use a path without it (for the store: --storage-path).",
        )
    if path:
        text = text.replace("%", "%%")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def openssh_argv(target: Target, words: list[str], stdin_tty: bool) -> list[str]:
    """argv for the system's OpenSSH, checking the pinned host key strictly.

    User, port and host are separate, validated arguments, and the host comes after `--`:
    nothing from a record can become an option of ssh.
    """
    check_target(target)
    options, command = split_ssh_words(words)
    argv = [
        "ssh",
        "-F",
        "/dev/null",
        "-o",
        "ConnectionAttempts=3",
        "-o",
        "ConnectTimeout=10",
        "-o",
        "ControlMaster=no",
        "-o",
        "ControlPath=none",
        "-o",
        "LogLevel=quiet",
        "-o",
        "PasswordAuthentication=no",
        "-o",
        "ServerAliveInterval=60",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        f"UserKnownHostsFile={config_value(str(target.known_hosts), path=True)}",
        "-o",
        f"HostKeyAlias={target.alias}",
    ]
    if target.key_path:
        # -o, not -i: ssh looks for -i's file before it expands `%`, so no escape works there
        argv += [
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            f"IdentityFile={config_value(target.key_path, path=True)}",
        ]
    if not command and stdin_tty:
        argv.append("-t")
    argv += ["-l", target.user, "-p", str(target.port), *options, "--", target.host]
    # OpenSSH joins the command's words with spaces for the remote shell, as a login would.
    return argv + command


def check_target(target: Target) -> None:
    """Refuse a user, host or port that is not one (whatever record they came from)."""
    from machine.addresses import host_problem, port_problem, ssh_user_problem

    why = (
        ssh_user_problem(target.user)
        or host_problem(target.host)
        or port_problem(target.port)
        or ("" if _is_alias(target.alias) else f"{target.alias!r} is not a machine name")
    )
    if why:
        raise MachineError(
            f'Cannot reach "{target.alias}" over SSH: {why}',
            hint="The machine's record holds it; fix or remove the machine (`rm -f`).",
        )


def _is_alias(name: str) -> bool:
    return bool(name) and all((c.isalnum() and c.isascii()) or c in ".-" for c in name)


def run_interactive_paramiko(target: Target, words: list[str], deadline: float) -> int:
    """Fallback without OpenSSH: run the command of `words` (or a shell) and relay stdio;
    returns its exit code. ssh options among `words` have no meaning here and are refused."""
    import select
    import sys

    check_target(target)
    options, command = split_ssh_words(words)
    if options:
        raise MachineError(
            f"ssh options ({' '.join(options)}) need OpenSSH, not the native client",
            hint="Install openssh-client and leave out --native-ssh.",
        )
    conn = connect(target, deadline)
    try:
        transport = conn._client.get_transport()
        assert transport is not None
        chan = transport.open_session()
        interactive = sys.stdin.isatty() and not command
        if interactive:
            size = os.get_terminal_size()
            chan.get_pty(
                term=os.environ.get("TERM", "xterm"), width=size.columns, height=size.lines
            )
            chan.invoke_shell()
        else:
            chan.exec_command(" ".join(command) if command else "exec $SHELL -l")
        old = _raw_tty() if interactive else None
        try:
            stdin_open = True
            while True:
                watch: list[Any] = [chan]
                if stdin_open:
                    watch.append(sys.stdin)
                readable, _, _ = select.select(watch, [], [], 0.1)
                if chan in readable:
                    if chan.recv_ready():
                        data = chan.recv(65536)
                        os.write(sys.stdout.fileno(), data)
                    if chan.recv_stderr_ready():
                        os.write(sys.stderr.fileno(), chan.recv_stderr(65536))
                if stdin_open and sys.stdin in readable:
                    data = os.read(sys.stdin.fileno(), 65536)
                    if data:
                        chan.sendall(data)
                    else:
                        chan.shutdown_write()
                        stdin_open = False
                if (chan.eof_received or chan.closed) and not chan.recv_ready():
                    while chan.recv_stderr_ready():  # EOF: all output is here (see _drain)
                        os.write(sys.stderr.fileno(), chan.recv_stderr(65536))
                    break
        finally:
            if old is not None:
                _restore_tty(old)
        return chan.recv_exit_status()
    finally:
        conn.close()


def _raw_tty() -> list[object]:
    import sys
    import termios
    import tty

    old = termios.tcgetattr(sys.stdin.fileno())
    tty.setraw(sys.stdin.fileno())
    return old


def _restore_tty(old: list[object]) -> None:
    import sys
    import termios

    termios.tcsetattr(sys.stdin.fileno(), termios.TCSADRAIN, old)  # type: ignore[arg-type]


def quote(value: str) -> str:
    """Quote one word for the remote POSIX shell."""
    return shlex.quote(value)
