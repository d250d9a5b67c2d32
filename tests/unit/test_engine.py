"""The daemon's drop-in: distribution arguments kept, ours appended, user values quoted."""

from __future__ import annotations

from machine.docker import engine

DEBIAN_UNIT = """# /lib/systemd/system/docker.service
[Unit]
Description=Docker Application Container Engine

[Service]
Type=notify
EnvironmentFile=-/etc/default/docker
ExecStart=/usr/sbin/dockerd -H fd:// --containerd=/run/containerd/containerd.sock $DOCKER_OPTS
ExecReload=/bin/kill -s HUP $MAINPID

# /etc/systemd/system/docker.service.d/10-machine.conf
[Service]
ExecStart=
ExecStart=/usr/sbin/dockerd -H tcp://0.0.0.0:2376 --label provider=generic
"""


def test_vendor_exec_start_ignores_drop_ins() -> None:
    assert engine.parse_vendor_exec_start(DEBIAN_UNIT) == (
        "/usr/sbin/dockerd",
        "-H fd:// --containerd=/run/containerd/containerd.sock $DOCKER_OPTS",
    )


def test_vendor_exec_start_with_continuation_lines() -> None:
    unit = "# /x/docker.service\n[Service]\nExecStart=/usr/bin/dockerd \\\n  -H fd://\n"
    assert engine.parse_vendor_exec_start(unit) == ("/usr/bin/dockerd", "-H fd://")


def test_dropin_matches_docker_machine_options() -> None:
    cfg = engine.EngineConfig(
        port=2376,
        driver_name="generic",
        labels=("env=test",),
        insecure_registries=("reg.local:5000",),
        registry_mirrors=("https://mirror.local",),
        arbitrary_flags=("log-level=debug",),
        env=("HTTP_PROXY=http://p:3128",),
    )
    text = engine.systemd_dropin(cfg, "/usr/sbin/dockerd", "-H fd:// $DOCKER_OPTS")
    assert text.splitlines()[1:3] == ["[Service]", "ExecStart="]
    exec_line = text.splitlines()[3]
    assert exec_line == (
        "ExecStart=/usr/sbin/dockerd -H fd:// $DOCKER_OPTS -H tcp://0.0.0.0:2376 --tlsverify "
        "--tlscacert /etc/docker/ca.pem --tlscert /etc/docker/server.pem "
        "--tlskey /etc/docker/server-key.pem --label env=test --label provider=generic "
        "--insecure-registry reg.local:5000 --registry-mirror https://mirror.local "
        "--log-level=debug"
    )
    assert "Environment=HTTP_PROXY=http://p:3128" in text


def test_dropin_without_vendor_listens_on_unix_socket() -> None:
    text = engine.systemd_dropin(engine.EngineConfig(2376, "generic"), "/usr/bin/dockerd", "")
    assert "ExecStart=/usr/bin/dockerd -H unix:///var/run/docker.sock -H tcp://" in text


def test_hostile_label_is_literal_for_systemd() -> None:
    cfg = engine.EngineConfig(2376, "generic", labels=("x=$(touch /pwned)",), env=('A=b "c" %h',))
    text = engine.systemd_dropin(cfg, "/usr/sbin/dockerd", "-H fd://")
    assert '--label "x=$$(touch /pwned)"' in text
    assert 'Environment="A=b \\"c\\" %%h"' in text


def test_systemd_quote() -> None:
    assert engine.systemd_quote("plain") == "plain"
    assert engine.systemd_quote("a b") == '"a b"'
    assert engine.systemd_quote("50%") == "50%%"
    assert engine.systemd_quote("a;b") == '"a;b"'


def test_openrc_conf_quotes_for_sh() -> None:
    cfg = engine.EngineConfig(2376, "generic", labels=("x=$(id)",), env=("HTTP_PROXY=http://p",))
    text = engine.openrc_conf(cfg)
    assert "DOCKER_OPTS='" in text and "$(id)" in text
    assert "export HTTP_PROXY=http://p" in text
