"""`machine env` output evaluated by the real shells: every value arrives literally, whatever
characters the store path or a `none` URL hold, and nothing in them runs."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.cli.conftest import Sandbox
from tests.machinecli import MACHINE

# A store folder name holding what each shell would act on: blanks, both quotes, command
# substitution in both forms, a history `!`, a backslash, `%` and `${...}`.
HOSTILE_FOLDER = "st ore \"dq\" 'sq' $(touch canary) `touch canary` !x \\b %p ${HOME} ;&|<>"
HOSTILE_URL = "tcp://h`touch canary`$(touch canary):1"

# shell -> (argv to run a script, the script: evaluate env's output as the hint says, then
# print the variables from the environment)
SHELLS = {
    "bash": (["bash", "-c"], 'eval "$(machine env m1)"; {show}'),
    "sh": (["sh", "-c"], 'eval "$(machine env --shell sh m1)"; {show}'),
    "zsh": (["zsh", "-f", "-c"], 'eval "$(machine env --shell zsh m1)"; {show}'),
    "fish": (["fish", "--no-config", "-c"], "eval (machine env --shell fish m1); {show}"),
    "tcsh": (["tcsh", "-f", "-c"], "eval `machine env --shell tcsh m1`; {show}"),
}
SHOW = "/usr/bin/printenv DOCKER_HOST DOCKER_CERT_PATH DOCKER_MACHINE_NAME DOCKER_TLS_VERIFY"


def _run(shell: str, store: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    argv, script = SHELLS[shell]
    if shutil.which(argv[0]) is None:
        pytest.fail(f"{argv[0]} is not installed (tools/setup installs it)")
    env = {
        "PATH": f"{Path(MACHINE).parent}:/usr/bin:/bin",
        "MACHINE_STORAGE_PATH": str(store),
        "HOME": str(cwd),
        "SHELL": f"/bin/{shell}",
        "LANG": "C.UTF-8",
    }
    return subprocess.run(
        [*argv, script.format(show=SHOW)],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=60,
    )


@pytest.mark.parametrize("shell", sorted(SHELLS))
def test_a_hostile_store_path_and_url_arrive_literally(sandbox: Sandbox, shell: str) -> None:
    folder = HOSTILE_FOLDER
    if shell == "tcsh":  # braces are refused for tcsh (tested below)
        folder = folder.replace("${HOME}", "$HOME")
    store = sandbox.root / folder / "store"
    cli = sandbox.cli()
    cli.store = store
    cli("create", "-d", "none", "--url", HOSTILE_URL, "m1")
    result = _run(shell, store, sandbox.root)
    assert result.returncode == 0, result
    assert result.stdout.splitlines() == [HOSTILE_URL, str(store / "machines/m1"), "m1", "1"]
    assert not (sandbox.root / "canary").exists() and not (store / "canary").exists()


def test_tcsh_refuses_what_its_brace_expansion_would_change(sandbox: Sandbox) -> None:
    cli = sandbox.cli()
    cli("create", "-d", "none", "--url", "tcp://h${HOME}:1", "m1")
    result = cli("env", "--shell", "tcsh", "m1", check=False)
    assert result.returncode == 1 and result.stdout == ""
    assert "brace expansion" in result.stderr
    assert cli("env", "--shell", "bash", "m1").returncode == 0


def test_a_value_with_a_line_break_is_refused(sandbox: Sandbox) -> None:
    cli = sandbox.cli()
    cli("create", "-d", "none", "--url", "tcp://h:1\ntouch canary", "m1")
    for shell in ("bash", "fish", "tcsh", "cmd", "powershell", "dotenv", "emacs"):
        result = cli("env", "--shell", shell, "m1", check=False)
        assert result.returncode == 1 and result.stdout == "", result
        assert "DOCKER_HOST" in result.stderr and "line break" in result.stderr
    # json encodes it: safe as it is
    assert '"tcp://h:1\\ntouch canary"' in cli("env", "--shell", "json", "m1").stdout


@pytest.mark.parametrize("url", ["none", "tcp://[::1:2376", "tcp://h:99999", "tcp://h:x", ""])
def test_none_takes_any_url_and_every_command_copes(sandbox: Sandbox, url: str) -> None:
    cli = sandbox.cli()
    made = cli("create", "-d", "none", "--url", url, "m1", check=False)
    if not url:
        assert made.returncode == 3 and "requires the --url option" in made.stderr
        return
    assert made.returncode == 0, made
    results = sandbox.run_many(
        [
            {"argv": argv}
            for argv in (
                ["env", "m1"],
                ["ip", "m1"],
                ["url", "m1"],
                ["status", "m1"],
                ["inspect", "m1"],
                ["config", "m1"],
                ["ls"],
                ["version", "m1"],
            )
        ]
    )
    for result in results:
        assert "Traceback" not in result["stderr"] and "This is a bug" not in result["stderr"]
    assert results[2]["stdout"] == url + "\n"
    assert results[0]["code"] == 0 and f'DOCKER_HOST="{url}"' in results[0]["stdout"]
