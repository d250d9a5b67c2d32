"""Shell completion, run in the real shells: bash (the function its `complete -F` calls, with
COMP_WORDS/COMP_CWORD), zsh (an interactive zsh in a pseudo-terminal, compinit and a TAB)
and fish (`complete -C`). PowerShell is not installable here: its script is only printed."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.machinecli import MACHINE

pytestmark = pytest.mark.cli

# $1: the line typed before TAB; $2: a word the answer must hold (read until it shows, 60 s)
ZSH_SESSION = r"""
zmodload zsh/zpty
zpty z zsh -f -i
until_seen() {
    local chunk out=""
    local -i waited=0
    while (( waited < 600 )) && [[ $out != *"$1"* ]]; do
        if zpty -r -t z chunk; then out+=$chunk; else sleep 0.1; (( waited++ )); fi
    done
    print -r -- "$out"
}
zpty -w z 'PS1="%% "; autoload -U compinit; compinit -u -D; eval "$(machine completion zsh)"'
zpty -w z 'zstyle ":completion:*" menu no; print READY'
until_seen READY > /dev/null
zpty -w -n z "$1"$'\t'
until_seen "$2"
zpty -d z
"""


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    store = tmp_path / "store"
    for name in ("web", "db"):
        (store / "machines" / name).mkdir(parents=True)
        (store / "machines" / name / "config.json").write_text("{}")
    (store / "machines" / ".hidden").mkdir()
    return {
        "PATH": f"{Path(MACHINE).parent}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "MACHINE_STORAGE_PATH": str(store),
        "LANG": "C.UTF-8",
        "TERM": "dumb",
    }


def _shell(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed (tools/setup installs it)")
    return path


def bash(env: dict[str, str], *words: str) -> list[str]:
    script = (
        "source <(machine completion bash)\n"
        f"COMP_WORDS=(machine {' '.join(repr(w) for w in words)})\n"
        f"COMP_CWORD={len(words)}\n"
        "_machine_complete\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    out = subprocess.run(
        [_shell("bash"), "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    return [line for line in out.stdout.splitlines() if line]


def test_bash(env: dict[str, str]) -> None:
    assert bash(env, "st") == ["start", "status", "stop"]
    assert bash(env, "ssh", "") == ["db", "web"]  # a folder listing: .hidden is no machine
    assert bash(env, "rm", "-y", "w") == ["web"]
    assert bash(env, "create", "-d", "k") == ["kvm"]
    assert bash(env, "create", "-d", "virtualbox", "--virtualbox-hostonly-nic") == [
        "--virtualbox-hostonly-nicpromisc",
        "--virtualbox-hostonly-nictype",
    ]
    assert "--engine-label" in bash(env, "create", "--engine-l")
    assert bash(env, "env", "--shell", "f") == ["fish"]
    assert bash(env, "completion", "") == ["bash", "zsh", "fish", "powershell"]
    assert bash(env, "-s", str(Path(env["HOME"]) / "elsewhere"), "ip", "") == []
    assert bash(env, "use", "-u", "") == []


def test_zsh(env: dict[str, str]) -> None:
    def complete(line: str, expected: str) -> str:
        out = subprocess.run(
            [_shell("zsh"), "-f", "-c", ZSH_SESSION, "zsh", line, expected],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 0, out.stderr
        return out.stdout

    listed = complete("machine st", "stop")
    assert all(word in listed for word in ("start", "status", "stop")), listed
    names = complete("machine inspect ", "web")
    assert "db" in names and "web" in names, names
    # a single match is inserted on the command line itself
    line = complete("machine regen", "regenerate-certs")
    assert "machine regenerate-certs" in line, line


def test_fish(env: dict[str, str]) -> None:
    def complete(line: str) -> list[str]:
        out = subprocess.run(
            [
                _shell("fish"),
                "--no-config",
                "-c",
                f"machine completion fish | source; complete -C '{line}'",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 0, out.stderr
        return out.stdout.split()

    assert complete("machine st") == ["start", "status", "stop"]
    assert complete("machine stop ") == ["db", "web"]
    assert complete("machine create -d vm") == ["vmwarevsphere"]


def test_scripts_name_the_program(env: dict[str, str]) -> None:
    for shell in ("bash", "zsh", "fish", "powershell"):
        text = subprocess.run(
            [MACHINE, "completion", shell], env=env, capture_output=True, text=True, timeout=60
        ).stdout
        assert "machine __complete" in text, shell
    refused = subprocess.run(
        [MACHINE, "completion", "csh"], env=env, capture_output=True, text=True, timeout=60
    )
    assert refused.returncode == 1 and "bash, zsh, fish, powershell" in refused.stderr
