"""Every OS family's full provisioning run (engine missing, so it installs) against recorded
transcripts in tests/fixtures/transcripts/. A change to what we run on hosts shows up here as a
diff to review; set MACHINE_UPDATE_TRANSCRIPTS=1 to re-record after checking it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from machine.docker import engine
from machine.provision.run import Plan, provision
from machine.testing import ScriptedRemote

HERE = Path(__file__).resolve().parent.parent / "fixtures" / "transcripts"

OS_RELEASES = {
    "debian-12": ("ID=debian\nVERSION_ID=12\n", "systemd", ""),
    "ubuntu-24.04": ("ID=ubuntu\nID_LIKE=debian\nVERSION_ID=24.04\n", "systemd", ""),
    "fedora-40": ("ID=fedora\nVERSION_ID=40\n", "systemd", ""),
    "rocky-9-script": (
        'ID="rocky"\nID_LIKE="rhel centos fedora"\n',
        "systemd",
        "https://get.docker.com",
    ),
    "amzn-2023": ('ID="amzn"\nID_LIKE="fedora"\n', "systemd", ""),
    "opensuse-leap-15": ('ID="opensuse-leap"\nID_LIKE="suse opensuse"\n', "systemd", ""),
    "arch": ("ID=arch\n", "systemd", ""),
    "alpine-3.20": ("ID=alpine\nVERSION_ID=3.20.0\n", "openrc", ""),
}

PLAN = Plan(
    hostname="node1",
    engine=engine.EngineConfig(
        port=2376, driver_name="generic", labels=("env=test",), registry_mirrors=("https://m",)
    ),
    install_url="",
    ca_pem=b"CA",
    server_cert_pem=b"CERT",
    server_key_pem=b"KEY",
)


def scripted(os_release: str, init: str) -> ScriptedRemote:
    facts = (
        f"@@os-release\n{os_release}@@uid\n0\n@@hostname\nlocalhost\n@@dockerd\n\n"
        f"@@init\n{init}\n@@sudo\n\n@@end\n"
    )
    remote = ScriptedRemote()
    remote.on(r"^sh -c .*@@os-release", facts)
    remote.on(r"^command -v dockerd$", "/usr/bin/dockerd\n")
    remote.on(
        r"^systemctl cat docker.service",
        "# /usr/lib/systemd/system/docker.service\n"
        "[Service]\nExecStart=/usr/bin/dockerd -H fd://\n",
    )
    remote.on(r"^sha256sum ", "")
    remote.on(r".")  # every other command succeeds; the transcript records them all
    return remote


@pytest.mark.parametrize("name", sorted(OS_RELEASES))
def test_transcript(name: str) -> None:
    os_release, init, url = OS_RELEASES[name]
    remote = scripted(os_release, init)
    plan = Plan(**{**PLAN.__dict__, "install_url": url})
    provision(remote, plan)
    text = "\n".join(remote.commands[1:]) + "\n"  # the facts probe is the same everywhere
    for path, (data, mode) in sorted(remote.files.items()):
        text += f"\n--- {path} ({mode:04o})\n{data.decode()}"
    golden = HERE / f"{name}.txt"
    if os.environ.get("MACHINE_UPDATE_TRANSCRIPTS"):
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(text)
    assert text == golden.read_text()
