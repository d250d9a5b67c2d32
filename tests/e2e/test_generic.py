"""The generic driver end to end, driving the `machine` CLI as a subprocess against real hosts."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from tests.machinecli import CLI, MACHINE

Hosts = Any  # the host_factory fixture: (variant="docker") -> TestHost


def _create(cli: CLI, name: str, host: Any, key: Path, *extra: str) -> Any:
    return cli(
        "create",
        "-d",
        "generic",
        "--generic-ip-address",
        host.ip,
        "--generic-ssh-key",
        str(key),
        "--wait-timeout",
        "120",
        *extra,
        name,
    )


def test_create_env_and_run_a_container(
    cli: CLI,
    host_factory: Hosts,
    ssh_key: tuple[Path, str],
    busybox: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    host = host_factory("docker")
    result = _create(
        cli,
        "web",
        host,
        ssh_key[0],
        "--engine-label",
        "x=$(touch /pwned)",
        "--engine-label",
        "tier=e2e",
        "--engine-insecure-registry",
        "reg.test:5000",
        "--engine-registry-mirror",
        "https://mirror.test",
        "--engine-env",
        "HTTP_PROXY=http://proxy.test:3128",
        "--engine-env",
        'LITERAL=a$b%c "q" $(id)',
        "--engine-opt",
        "debug",
        "--engine-storage-driver",
        "overlay2",
        "--tls-san",
        "web.example.test",
    )
    assert result.stdout == "", "progress belongs on stderr"
    assert "Provisioning with debian" in result.stderr
    assert "Docker is up and running!" in result.stderr

    # the real docker CLI through `eval $(machine env web)`, over mutual TLS
    out = cli.bash(
        'eval "$(machine env web)"\n'
        "docker version --format '{{.Server.Version}}'\n"
        f"docker import {busybox} e2e/busybox >/dev/null\n"
        "docker run --rm e2e/busybox /bin/busybox echo hi-from-web\n"
        "docker info --format '{{json .Labels}}'\n"
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0][0].isdigit()
    assert "hi-from-web" in lines
    labels = json.loads(lines[-1])
    # the hostile label arrived as a literal string and ran nothing
    assert "x=$(touch /pwned)" in labels
    assert "provider=generic" in labels and "tier=e2e" in labels
    assert host.exec("test -e /pwned; echo $?").stdout.strip() == "1"

    # every --engine-* option reached the daemon
    info = json.loads(
        cli.bash('eval "$(machine env web)"; docker info --format "{{json .}}"').stdout
    )
    assert info["RegistryConfig"]["IndexConfigs"]["reg.test:5000"]["Secure"] is False
    assert info["RegistryConfig"]["Mirrors"] == ["https://mirror.test/"]
    assert info["HttpProxy"] == "http://proxy.test:3128"
    environ = host.exec(
        "tr '\\0' '\\n' < /proc/$(systemctl show -p MainPID --value docker)/environ"
    ).stdout.splitlines()
    assert 'LITERAL=a$b%c "q" $(id)' in environ  # as given: no $$, no expansion
    assert info["Debug"] is True
    assert info["Driver"] == "overlay2"
    from machine.tls import certs

    server = certs.load_cert((cli.store / "machines/web/server.pem").read_bytes())
    assert {"web.example.test", host.ip, "web", "localhost"} <= certs.cert_sans(server)
    assert result.stderr.count("Provisioning with debian...") == 1

    # docker-py with the same environment. requests lets $REQUESTS_CA_BUNDLE override the
    # CA docker-py passes (psf/requests#3829), so clear it as a user of docker-py must.
    import docker

    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)

    env = dict(
        line.split("=", 1) for line in cli("env", "--shell", "dotenv", "web").stdout.splitlines()
    )
    client = docker.from_env(environment=env)
    assert client.version()["Version"] == lines[0]
    client.close()

    # the reading commands
    assert cli("ip", "web").stdout.strip() == host.ip
    assert cli("url", "web").stdout.strip() == f"tcp://{host.ip}:2376"
    assert cli("status", "web").stdout.strip() == "Running"
    record = json.loads(cli("inspect", "web").stdout)
    assert record["DriverName"] == "generic"
    assert record["Driver"]["IPAddress"] == host.ip
    assert cli("inspect", "-f", "{{.Driver.IPAddress}}", "web").stdout.strip() == host.ip
    config = cli("config", "web").stdout
    assert config.startswith("--tlsverify\n--tlscacert=") and f"-H=tcp://{host.ip}:2376" in config
    ls = cli("ls").stdout.splitlines()
    assert ls[0].split() == [
        "NAME",
        "ACTIVE",
        "DRIVER",
        "STATE",
        "URL",
        "SWARM",
        "DOCKER",
        "ERRORS",
    ]
    row = ls[1].split()
    assert row[:5] == ["web", "-", "generic", "Running", f"tcp://{host.ip}:2376"]
    assert row[5].startswith("v")
    active = cli("ls", DOCKER_HOST=f"tcp://{host.ip}:2376").stdout.splitlines()[1].split()
    assert active[1] == "*"

    # `machine ssh` passes the remote exit code through
    assert cli("ssh", "web", "false", check=False).returncode == 1
    assert cli("ssh", "web", "exit", "7", check=False).returncode == 7
    assert cli("ssh", "web", "hostname").stdout.strip() == "web"
    # without OpenSSH (or with --native-ssh) paramiko runs the command, same exit code
    assert cli("--native-ssh", "ssh", "web", "exit 5", check=False).returncode == 5
    assert cli("--native-ssh", "ssh", "web", "echo", "native").stdout == "native\n"
    assert cli("version", "web").stdout.strip() == lines[0]

    # provision again: nothing changes, the engine is not restarted, containers keep running
    cli.bash(
        'eval "$(machine env web)"; docker run -d --name keep e2e/busybox '
        "/bin/busybox sleep 600 >/dev/null"
    )
    pid_before = host.exec("systemctl show -p MainPID --value docker").stdout.strip()
    provisioned = cli("-D", "provision", "web")  # --debug: every remote command, no secrets
    assert "DEBUG machine.remote.ssh: (web) " in provisioned.stderr
    assert "PRIVATE KEY" not in provisioned.stderr
    pid_after = host.exec("systemctl show -p MainPID --value docker").stdout.strip()
    assert pid_before == pid_after != "0"
    running = cli.bash('eval "$(machine env web)"; docker ps --format "{{.Names}}"')
    assert running.stdout.split() == ["keep"]

    # regenerate-certs -f issues a new server cert and env keeps working
    old_cert = (cli.store / "machines/web/server.pem").read_bytes()
    cli("regenerate-certs", "-f", "web")
    assert (cli.store / "machines/web/server.pem").read_bytes() != old_cert
    assert cli.bash('eval "$(machine env web)"; docker version >/dev/null').returncode == 0
    # --client-certs: a new CA and client cert for the store, installed on the machine
    old_ca = (cli.store / "certs/ca.pem").read_bytes()
    cli("regenerate-certs", "-f", "--client-certs", "web")
    assert (cli.store / "certs/ca.pem").read_bytes() != old_ca
    assert (cli.store / "machines/web/ca.pem").read_bytes() != old_ca
    assert cli.bash('eval "$(machine env web)"; docker version >/dev/null').returncode == 0

    # rm -y removes the record, keys and TLS files
    removed = cli("rm", "-y", "web")
    assert "Successfully removed web" in removed.stdout
    assert not (cli.store / "machines/web").exists()
    assert cli("ls", "-q").stdout == ""


def test_create_installs_the_engine_from_packages(
    cli: CLI, host_factory: Hosts, ssh_key: tuple[Path, str], busybox: Path
) -> None:
    host = host_factory("plain")
    assert host.exec("command -v dockerd").returncode != 0
    result = _create(cli, "fresh", host, ssh_key[0])
    assert "Installing Docker..." in result.stderr
    out = cli.bash(
        'eval "$(machine env fresh)"\n'
        f"docker import {busybox} e2e/busybox >/dev/null\n"
        "docker run --rm e2e/busybox /bin/busybox echo installed\n"
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "installed"


def test_create_installs_the_engine_with_an_install_script(
    cli: CLI, host_factory: Hosts, ssh_key: tuple[Path, str], tmp_path: Path
) -> None:
    host = host_factory("plain")
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    # stands in for get.docker.com: installs the engine from the host's package sources
    (scripts / "install.sh").write_text(
        "#!/bin/sh\nset -e\napt-get update -q\n"
        "DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker.io\n"
        "touch /root/installed-by-script\n"
    )
    host.serve(scripts, 8081)
    url = f"http://{host.gateway}:8081/install.sh"
    result = _create(cli, "scripted", host, ssh_key[0], "--engine-install-url", url)
    assert "Installing Docker..." in result.stderr
    assert host.exec("test -e /root/installed-by-script").returncode == 0
    assert host.exec("command -v curl").returncode == 0  # fetched with curl it installed
    record = json.loads(cli("inspect", "scripted").stdout)
    assert record["HostOptions"]["EngineOptions"]["InstallURL"] == url
    out = cli.bash('eval "$(machine env scripted)"; docker info --format "{{.Name}}"')
    assert out.stdout.strip() == "scripted", out.stderr


def test_changed_host_key_is_refused(
    cli: CLI, host_factory: Hosts, ssh_key: tuple[Path, str]
) -> None:
    host = host_factory("docker")
    _create(cli, "pinned", host, ssh_key[0])
    dropin = "/etc/systemd/system/docker.service.d/10-machine.conf"
    before = host.exec(f"sha256sum {dropin}").stdout
    host.exec("rm -f /etc/ssh/ssh_host_* && ssh-keygen -A -q && systemctl restart ssh")
    host.wait_port(22, 10)
    result = cli("provision", "pinned", check=False)
    assert result.returncode == 1
    assert "does not match the one pinned" in result.stderr
    assert "known_hosts" in result.stderr  # says how to re-pin
    assert host.exec(f"sha256sum {dropin}").stdout == before
    ssh = cli("ssh", "pinned", "true", check=False)
    assert ssh.returncode != 0


@pytest.mark.parametrize("problem", ["closed-port", "wrong-key"])
def test_failed_create_rolls_back(
    cli: CLI, host_factory: Hosts, ssh_key: tuple[Path, str], tmp_path: Path, problem: str
) -> None:
    host = host_factory("docker")
    if problem == "closed-port":
        extra = ["--generic-ssh-key", str(ssh_key[0]), "--generic-ssh-port", "2222"]
    else:
        from machine.tls import certs

        wrong = tmp_path / "wrong"
        wrong.write_bytes(certs.ssh_keypair()[0])
        wrong.chmod(0o600)
        extra = ["--generic-ssh-key", str(wrong)]
    started = time.monotonic()
    result = cli(
        "create",
        "-d",
        "generic",
        "--generic-ip-address",
        host.ip,
        *extra,
        "--wait-timeout",
        "8",
        "broken",
        check=False,
    )
    elapsed = time.monotonic() - started
    assert result.returncode == 1
    assert 'Error in step "Waiting for SSH to be available"' in result.stderr
    assert "Removed" in result.stderr
    assert elapsed < 60
    assert cli("ls", "-q").stdout == ""
    assert not (cli.store / "machines/broken").exists()
    # the same name can be created right after
    _create(cli, "broken", host, ssh_key[0])
    assert cli("status", "broken").stdout.strip() == "Running"


def test_eight_parallel_creates_share_one_ca(
    cli: CLI, host_factory: Hosts, ssh_key: tuple[Path, str]
) -> None:
    import subprocess
    from concurrent.futures import ThreadPoolExecutor

    from machine.tls import certs

    with ThreadPoolExecutor(8) as pool:
        hosts = list(pool.map(lambda _: host_factory("docker"), range(8)))
    assert not cli.store.exists()
    procs = [
        subprocess.Popen(
            [
                MACHINE,
                "create",
                "-d",
                "generic",
                "--generic-ip-address",
                h.ip,
                "--generic-ssh-key",
                str(ssh_key[0]),
                "--wait-timeout",
                "180",
                f"p{i}",
            ],
            env=cli.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i, h in enumerate(hosts)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err
    ca_pem = (cli.store / "certs/ca.pem").read_bytes()
    ca = certs.load_cert(ca_pem)
    client = certs.load_cert((cli.store / "certs/cert.pem").read_bytes())
    assert certs.signed_by(client, ca)
    for i in range(8):
        mdir = cli.store / f"machines/p{i}"
        assert (mdir / "ca.pem").read_bytes() == ca_pem
        assert certs.signed_by(certs.load_cert((mdir / "server.pem").read_bytes()), ca)
        json.loads((mdir / "config.json").read_text())
    leftovers = [p for p in cli.store.rglob("*") if ".tmp" in p.name]
    assert leftovers == []
    rows = cli("ls").stdout.splitlines()[1:]
    assert sorted(r.split()[0] for r in rows) == [f"p{i}" for i in range(8)]
    assert all(r.split()[3] == "Running" for r in rows)
    for i in range(8):
        out = cli.bash(f'eval "$(machine env p{i})"; docker info --format "{{{{.Name}}}}"')
        assert out.stdout.strip() == f"p{i}", out.stderr


def test_non_root_user_with_sudo(cli: CLI, host_factory: Hosts, ssh_key: tuple[Path, str]) -> None:
    host = host_factory("docker")
    setup = host.exec(
        "useradd -m -s /bin/bash deploy && "
        "echo 'deploy ALL=(ALL) NOPASSWD:ALL' > /etc/sudoers.d/deploy && "
        "install -d -m 700 -o deploy -g deploy /home/deploy/.ssh && "
        "install -m 600 -o deploy -g deploy /root/.ssh/authorized_keys /home/deploy/.ssh/"
    )
    assert setup.returncode == 0, setup.stderr
    _create(cli, "asuser", host, ssh_key[0], "--generic-ssh-user", "deploy")
    assert cli("ssh", "asuser", "id", "-un").stdout.strip() == "deploy"
    out = cli.bash('eval "$(machine env asuser)"; docker info --format "{{.Name}}"')
    assert out.stdout.strip() == "asuser", out.stderr
    key_mode = host.exec("stat -c %a /etc/docker/server-key.pem").stdout.strip()
    assert key_mode == "600"


@pytest.mark.parametrize(
    ("signum", "word"), [(signal.SIGINT, "interrupted"), (signal.SIGTERM, "terminated")]
)
def test_interrupted_create_rolls_back(
    cli: CLI, host_factory: Hosts, ssh_key: tuple[Path, str], signum: int, word: str
) -> None:
    """Ctrl-C, or SIGTERM from a CI runner cancelling the job, removes what create made."""
    import subprocess

    host = host_factory("docker")
    proc = subprocess.Popen(
        [
            MACHINE,
            "create",
            "-d",
            "generic",
            "--generic-ip-address",
            host.ip,
            "--generic-ssh-key",
            str(ssh_key[0]),
            "--generic-ssh-port",
            "2222",
            "--wait-timeout",
            "300",
            "intr",
        ],
        env=cli.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 180  # a busy machine starts slowly
    while not (cli.store / "machines/intr/config.json").exists():
        assert time.monotonic() < deadline, "create never saved its record"
        time.sleep(0.05)
    time.sleep(1)  # now inside "Waiting for SSH"
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=180)
    assert proc.returncode == 1, err
    assert word in err and "Removed" in err
    assert not (cli.store / "machines/intr").exists()
    assert cli("ls", "-q").stdout == ""
