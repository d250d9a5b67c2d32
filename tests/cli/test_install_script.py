"""The commands that install the engine with --engine-install-url, run by a real `sh` with
stand-ins for curl, wget and the package manager: curl is installed only when neither tool is
there, and the URL reaches curl as a URL, never as an option."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from machine.provision.families import FAMILIES

TOOLS = ("sh", "mktemp", "rm", "cat", "printf", "chmod")


def _bin(tmp_path: Path, fakes: dict[str, str]) -> Path:
    folder = tmp_path / "bin"
    folder.mkdir()
    for tool in TOOLS:
        real = subprocess.run(["sh", "-c", f"command -v {tool}"], capture_output=True, text=True)
        path = real.stdout.strip()
        if path.startswith("/"):
            (folder / tool).symlink_to(path)
    for name, body in fakes.items():
        script = folder / name
        script.write_text(f"#!/bin/sh\n{body}\n")
        script.chmod(0o755)
    return folder


def _run(tmp_path: Path, commands: list[str], folder: Path) -> list[str]:
    log = tmp_path / "log"
    log.touch()
    env = {"PATH": str(folder), "LOG": str(log)}
    for command in commands:
        result = subprocess.run(["sh", "-c", command], env=env, capture_output=True, text=True)
        assert result.returncode == 0, (command, result.stderr)
    return log.read_text().splitlines()


# a stand-in curl: logs its arguments, and writes the "install script" to the -o file
CURL = (
    'printf "curl %s\\n" "$*" >> "$LOG"; while [ $# -gt 0 ]; do [ "$1" = -o ] && '
    'out=$2; shift; done; printf \'echo installed >> "$LOG"\' > "$out"'
)
APT = 'printf "apt-get %s\\n" "$*" >> "$LOG"'


@pytest.mark.parametrize("url", ["https://get.docker.com", "https://mirror.test/-x.sh"])
def test_curl_is_used_as_it_is_and_gets_the_url_as_a_url(tmp_path: Path, url: str) -> None:
    family = FAMILIES[0]  # Debian's
    folder = _bin(tmp_path, {"curl": CURL, "apt-get": APT})
    log = _run(tmp_path, family._from_script(url), folder)
    assert not [line for line in log if line.startswith("apt-get")], log
    assert any(line.startswith("curl ") and line.endswith(f"--url {url}") for line in log), log
    assert log[-1] == "installed"


def test_curl_is_installed_when_neither_curl_nor_wget_is_there(tmp_path: Path) -> None:
    family = FAMILIES[0]
    # apt-get "installs" curl by putting the stand-in on PATH
    folder = tmp_path / "bin"
    install = (
        f'{APT}; printf "#!/bin/sh\\n%s\\n" {_sh_quote(CURL)} > {folder}/curl; '
        f"chmod +x {folder}/curl"
    )
    folder = _bin(tmp_path, {"apt-get": install})
    assert not (folder / "curl").exists() and "wget" not in os.listdir(folder)
    log = _run(tmp_path, family._from_script("https://get.docker.com"), folder)
    assert [line.split()[1] for line in log if line.startswith("apt-get")] == ["-o", "-o"]
    assert log[-1] == "installed"


def _sh_quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"
