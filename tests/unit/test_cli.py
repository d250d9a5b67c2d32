"""The CLI in-process with the none driver: messages, exit codes, stdout/stderr split."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from machine.cli.main import main


@pytest.fixture
def run(store_root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("MACHINE_STORAGE_PATH", str(store_root))
    monkeypatch.setenv("SHELL", "/bin/bash")
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.setattr("sys.argv", ["machine"])

    def invoke(*args: str) -> tuple[int, str, str]:
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return invoke


def test_none_machine_lifecycle(run, store_root: Path) -> None:  # type: ignore[no-untyped-def]
    code, out, err = run("create", "-d", "none", "--url", "tcp://192.0.2.7:2376", "m1")
    assert (code, out) == (0, "")
    assert "machine env m1" in err
    config = json.loads((store_root / "machines/m1/config.json").read_text())
    assert config["DriverName"] == "none"
    assert config["Driver"]["URL"] == "tcp://192.0.2.7:2376"
    assert config["Driver"]["IPAddress"] == "192.0.2.7:2376"

    code, out, _ = run("env", "m1")
    assert code == 0
    assert 'export DOCKER_HOST="tcp://192.0.2.7:2376"\n' in out
    assert f'export DOCKER_CERT_PATH="{store_root}/machines/m1"\n' in out

    assert run("url", "m1")[1] == "tcp://192.0.2.7:2376\n"
    assert run("ip", "m1")[1] == "192.0.2.7:2376\n"  # docker-machine's quirk for this driver
    assert run("status", "m1")[1] == "Running\n"
    assert run("inspect", "-f", "{{.DriverName}}", "m1")[1] == "none\n"
    assert run("ls", "-q")[1] == "m1\n"

    code, out, _ = run("rm", "-y", "m1")
    assert code == 0 and "Successfully removed m1" in out
    assert not (store_root / "machines/m1").exists()


def test_exit_codes_and_messages(run) -> None:  # type: ignore[no-untyped-def]
    code, _, err = run("status", "nosuch")
    assert code == 4
    assert 'Docker machine "nosuch" does not exist.' in err

    code, _, err = run("create", "-d", "none", "m1")
    assert code == 3
    assert 'Error with pre-create check: "The none driver requires the --url option"' in err

    code, _, err = run("create", "-d", "none", "--url", "tcp://h:1", "bad_name")
    assert code == 1
    assert "Invalid hostname specified" in err

    code, _, err = run("create", "-d", "none", "--url", "tcp://h:1")
    assert code == 1 and "No machine name specified" in err

    code, _, err = run("bogus")
    assert code == 1
    assert "machine: 'bogus' is not a machine command. See 'machine --help'." in err

    code, _, err = run("create", "-d", "nosuchdriver", "x")
    assert code == 1 and 'Driver "nosuchdriver" not found' in err

    run("create", "-d", "none", "--url", "tcp://h:1", "dup")
    code, _, err = run("create", "-d", "none", "--url", "tcp://h:1", "dup")
    assert code == 1 and 'Docker machine "dup" already exists' in err


def test_env_default_machine_rule(run) -> None:  # type: ignore[no-untyped-def]
    code, _, err = run("env")
    assert code == 1
    assert 'No machine name(s) specified and no "default" machine exists' in err
    run("create", "-d", "none", "--url", "tcp://192.0.2.1:2376", "default")
    code, out, _ = run("env")
    assert code == 0 and 'DOCKER_MACHINE_NAME="default"' in out


def test_env_unset_and_no_proxy(run, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = run("env", "-u")
    assert code == 0 and out.startswith("unset DOCKER_TLS_VERIFY\n")
    code, _, err = run("env", "-u", "m1")
    assert code == 1 and "Expected no machine name when the -u flag is present" in err
    run("create", "-d", "none", "--url", "tcp://192.0.2.9:2376", "p")
    monkeypatch.setenv("NO_PROXY", "localhost")
    code, out, _ = run("env", "--no-proxy", "p")
    assert 'export NO_PROXY="localhost,192.0.2.9:2376"\n' in out


def test_ls_table(run) -> None:  # type: ignore[no-untyped-def]
    run("create", "-d", "none", "--url", "tcp://192.0.2.3:2376", "b10")
    run("create", "-d", "none", "--url", "tcp://192.0.2.3:2376", "b2")
    code, out, _ = run("ls", "--timeout", "3")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == [
        "NAME",
        "ACTIVE",
        "DRIVER",
        "STATE",
        "URL",
        "SWARM",
        "DOCKER",
        "ERRORS",
    ]
    assert [line.split()[0] for line in lines[1:]] == ["b2", "b10"]
    assert lines[1].split()[:4] == ["b2", "-", "none", "Running"]


def test_ls_shows_broken_record_instead_of_crashing(run, store_root: Path) -> None:  # type: ignore[no-untyped-def]
    run("create", "-d", "none", "--url", "tcp://192.0.2.3:2376", "ok")
    broken = store_root / "machines/broken"
    broken.mkdir()
    (broken / "config.json").write_text("{")
    code, out, _ = run("ls")
    assert code == 0
    row = next(line for line in out.splitlines() if line.startswith("broken"))
    assert "not found" in row and "Error" in row


def test_tls_flags_point_the_record_at_other_files(run, store_root: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ca = tmp_path / "pki" / "ca.pem"
    code, _, err = run(
        "--tls-ca-cert", str(ca), "create", "-d", "none", "--url", "tcp://192.0.2.8:2376", "t0"
    )
    assert code == 1 and "pki does not exist" in err  # files are made, folders are not
    assert not ca.parent.exists()
    ca.parent.mkdir()
    code, _, err = run(
        "--tls-ca-cert",
        str(ca),
        "--tls-ca-key",
        str(tmp_path / "pki/ca-key.pem"),
        "create",
        "-d",
        "none",
        "--url",
        "tcp://192.0.2.8:2376",
        "t1",
    )
    assert code == 0, err
    assert ca.exists()  # made there, not in the store
    auth = json.loads((store_root / "machines/t1/config.json").read_text())["HostOptions"][
        "AuthOptions"
    ]
    assert auth["CaCertPath"] == str(ca)
    assert auth["ClientCertPath"] == str(store_root / "certs/cert.pem")
    assert not (store_root / "certs/ca.pem").exists()


def test_compat_speaks_as_docker_machine(run) -> None:  # type: ignore[no-untyped-def]
    code, _, err = run("--compat", "status", "nosuch")
    assert code == 4
    assert 'Use "docker-machine ls" to list machines.' in err
    code, _, err = run("--compat", "bogus")
    assert "docker-machine: 'bogus' is not a docker-machine command." in err


def test_classic_swarm_flags_are_refused_clearly(run, store_root: Path) -> None:  # type: ignore[no-untyped-def]
    for flags in (["--swarm"], ["--swarm-master"], ["--swarm-discovery", "token://x"]):
        code, _, err = run("create", "-d", "none", "--url", "tcp://h:1", *flags, "s1")
        assert code == 1
        assert "classic Swarm" in err and "--swarm-init" in err
        assert "swarm init|join|leave|ls" in err
    assert not (store_root / "machines/s1").exists()


def test_inspect_shows_what_machine_made_of_a_swarm(run, store_root: Path) -> None:  # type: ignore[no-untyped-def]
    assert run("create", "-d", "none", "--url", "tcp://192.0.2.7:2376", "m1")[0] == 0
    assert "SwarmMode" not in json.loads(run("inspect", "m1")[1])  # docker-machine's keys only
    member = store_root / "machines/m1/swarm.json"
    member.write_text('{"role": "worker", "first": "sw1", "advertise": "10.0.0.7"}\n')
    shown = json.loads(run("inspect", "m1")[1])["SwarmMode"]
    assert shown == {"Role": "worker", "Swarm": "sw1", "AdvertiseAddr": "10.0.0.7"}
    assert run("inspect", "-f", "{{.SwarmMode.Role}}", "m1")[1] == "worker\n"
    member.write_text("[not json")  # damaged: left out, never a crash
    code, out, _ = run("inspect", "m1")
    assert code == 0 and "SwarmMode" not in json.loads(out)
