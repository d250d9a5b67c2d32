"""createflags.parse reads a create command line into exactly the parameters click gives the
command for it, or declines (None) and leaves it to click."""

from __future__ import annotations

import pytest

from machine.cli import createflags
from machine.cli.create import CreateCommand
from machine.registry import default_registry

AGREES = [
    ["-d", "none", "--url", "tcp://10.0.0.5:2376", "m1"],
    ["m1", "--driver=none", "--url=tcp://h:1"],
    ["--driver", "generic", "--generic-ip-address", "10.0.0.5", "--generic-ssh-port", "2222", "g"],
    ["-d", "generic", "--generic-ip-address=h", "--engine-opt", "a=b", "--engine-opt=c=d", "g"],
    [
        "-d",
        "generic",
        "--engine-label",
        "x=1",
        "--tls-san",
        "h.example",
        "--tls-san",
        "10.1.1.1",
        "g",
    ],
    [
        "-d",
        "generic",
        "--generic-ip-address",
        "h",
        "--wait-timeout",
        "7.5",
        "--keep-on-failure",
        "g",
    ],
    ["-d", "generic", "--swarm-join", "mgr", "--swarm-role", "manager", "g"],
    ["-d", "generic", "--swarm-init", "--swarm-advertise-addr", "10.0.0.5", "g"],
    ["-d", "none", "--url", "u", "-", "--engine-install-url", "https://get.docker.com"],
    ["-d", "none", "--url", "first", "--url", "last", "m"],  # the last one counts
    ["-d", "kvm", "--kvm-memory", "2048", "--kvm-cpu-count", "2", "--kvm-network", "n", "k"],
    ["-d", "amazonec2", "--amazonec2-open-port", "80", "--amazonec2-open-port", "443", "a"],
    ["-d", "amazonec2", "--amazonec2-request-spot-instance", "--amazonec2-root-size", "32", "a"],
    ["-d", "none", "--swarm", "--swarm-discovery", "token://x", "m"],  # refused later, alike
]

DECLINES = [
    ["-d", "none", "--help"],
    ["-d", "none", "-h", "m"],
    ["-d", "none", "--url", "--engine-opt", "m"],  # a value that looks like a flag
    ["-d", "none", "--url"],  # no value
    ["-d", "none", "--keep-on-failure=yes", "m"],
    ["-d", "none", "--nosuch", "m"],
    ["-d", "none", "--", "m"],
    ["-dnone", "m"],
    ["-d", "generic", "--generic-ssh-port", "twenty", "g"],
    ["-d", "generic", "--wait-timeout", "soon", "g"],
    ["-d", "generic", "--swarm-role", "boss", "g"],
    ["-d", "none", "-D", "m"],
]


def _flags(driver: str) -> list[createflags.Flag]:
    config = default_registry().get(driver).Config
    return [*createflags.SHARED, *createflags.driver_flags(config)]


def _click(argv: list[str]) -> dict[str, object]:
    command = CreateCommand()
    with command.make_context("create", list(argv)) as ctx:
        return dict(ctx.params)


@pytest.fixture(autouse=True)
def _no_flag_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for flag in [*_flags("generic"), *_flags("kvm"), *_flags("amazonec2"), *_flags("none")]:
        if flag.env:
            monkeypatch.delenv(flag.env, raising=False)


@pytest.mark.parametrize("argv", AGREES, ids=" ".join)
def test_parse_gives_what_click_gives(argv: list[str]) -> None:
    driver = createflags.driver_from_args(argv)
    assert driver
    assert createflags.parse(argv, _flags(driver)) == _click(argv)


@pytest.mark.parametrize(
    "environ",
    [
        {"MACHINE_WAIT_TIMEOUT": "42"},
        {"ENGINE_REGISTRY_MIRROR": "https://a.example  https://b.example"},
        {"MACHINE_DOCKER_INSTALL_URL": "https://get.docker.com"},
        {"MACHINE_DOCKER_INSTALL_URL": ""},  # empty: unset, as click reads it
        {"GENERIC_SSH_PORT": "2200", "GENERIC_SSH_USER": "ops"},
        {"MACHINE_DRIVER": "generic"},
    ],
    ids=lambda e: ",".join(e),
)
def test_flags_from_the_environment_read_as_click_reads_them(
    environ: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in environ.items():
        monkeypatch.setenv(key, value)
    argv = ["--generic-ip-address", "h", "g"]
    if "MACHINE_DRIVER" not in environ:
        argv = ["-d", "generic", *argv]
    assert createflags.parse(argv, _flags("generic")) == _click(argv)


def test_a_bool_flag_from_the_environment_is_left_to_click(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_SECURITY_GROUP_READONLY", "yes")
    flags = _flags("amazonec2")
    assert any(f.env == "AWS_SECURITY_GROUP_READONLY" for f in flags)
    assert createflags.parse(["-d", "amazonec2", "a"], flags) is None


@pytest.mark.parametrize("argv", DECLINES, ids=" ".join)
def test_parse_declines_what_it_is_not_sure_of(argv: list[str]) -> None:
    assert createflags.parse(argv, _flags(createflags.driver_from_args(argv) or "none")) is None
