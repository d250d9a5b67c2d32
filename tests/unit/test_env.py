"""`machine env` output, byte for byte against docker-machine's (reference §5)."""

from __future__ import annotations

from machine.render import env

VARS = [
    ("DOCKER_TLS_VERIFY", "1"),
    ("DOCKER_HOST", "tcp://127.0.0.1:12376"),
    ("DOCKER_CERT_PATH", "/s/machines/m2"),
    ("DOCKER_MACHINE_NAME", "m2"),
]
NAMES = [n for n, _ in VARS]


def test_bash_matches_docker_machine() -> None:
    out = env.render("bash", VARS, ["docker-machine", "env", "m2"])
    assert out == (
        'export DOCKER_TLS_VERIFY="1"\n'
        'export DOCKER_HOST="tcp://127.0.0.1:12376"\n'
        'export DOCKER_CERT_PATH="/s/machines/m2"\n'
        'export DOCKER_MACHINE_NAME="m2"\n'
        "# Run this command to configure your shell: \n"
        "# eval $(docker-machine env m2)\n"
    )


def test_unknown_shell_uses_sh_format() -> None:
    assert env.render("ksh", VARS, ["m"]) == env.render("bash", VARS, ["m"])


def test_each_shell_line_and_hint() -> None:
    argv = ["docker-machine", "env", "--shell", "X", "m2"]
    expect = {
        "fish": ('set -gx DOCKER_HOST "tcp://127.0.0.1:12376";', "# eval (docker-machine env"),
        "powershell": (
            '$Env:DOCKER_HOST = "tcp://127.0.0.1:12376"',
            "# & docker-machine env --shell X m2 | Invoke-Expression",
        ),
        "cmd": (
            "SET DOCKER_HOST=tcp://127.0.0.1:12376",
            "REM \t@FOR /f \"tokens=*\" %i IN ('docker-machine env --shell X m2') DO @%i",
        ),
        "emacs": (
            '(setenv "DOCKER_HOST" "tcp://127.0.0.1:12376")',
            ';; (with-temp-buffer (shell-command "docker-machine env --shell X m2" '
            "(current-buffer)) (eval-buffer))",
        ),
        "tcsh": ('setenv DOCKER_HOST "tcp://127.0.0.1:12376";', ": eval `docker-machine env"),
        "nu": ('$env.DOCKER_HOST = "tcp://127.0.0.1:12376"', "# docker-machine env"),
    }
    for shell, (line, hint) in expect.items():
        out = env.render(shell, VARS, argv)
        assert line + "\n" in out, shell
        assert hint in out, shell
        assert "Run this command to configure your shell: \n" in out, shell


def test_unset_formats() -> None:
    argv = ["docker-machine", "env", "-u"]
    assert env.render_unset("bash", NAMES, argv).startswith(
        "unset DOCKER_TLS_VERIFY\nunset DOCKER_HOST\n"
    )
    assert "set -e DOCKER_HOST;\n" in env.render_unset("fish", NAMES, argv)
    assert "Remove-Item Env:\\\\DOCKER_HOST\n" in env.render_unset("powershell", NAMES, argv)
    assert "SET DOCKER_HOST=\n" in env.render_unset("cmd", NAMES, argv)
    assert '(setenv "DOCKER_HOST" nil)\n' in env.render_unset("emacs", NAMES, argv)
    assert "unsetenv DOCKER_HOST;\n" in env.render_unset("tcsh", NAMES, argv)


def test_hint_quotes_program_path_with_space() -> None:
    hint = env.usage_hint("bash", ["/opt/my tools/machine", "env", "a"])
    assert '# eval $("/opt/my tools/machine" env a)' in hint


def test_dangerous_values_are_escaped_for_sh() -> None:
    out = env.render("bash", [("DOCKER_CERT_PATH", '/x/$(id)"`')], ["m"])
    assert 'export DOCKER_CERT_PATH="/x/\\$(id)\\"\\`"\n' in out


def test_dotenv_and_json_have_no_hint() -> None:
    assert env.render("dotenv", VARS[:1], ["m"]) == "DOCKER_TLS_VERIFY=1\n"
    assert env.render("json", VARS[:1], ["m"]) == '{\n    "DOCKER_TLS_VERIFY": "1"\n}\n'


def test_no_proxy_rules() -> None:
    assert env.no_proxy({}, "10.0.0.5") == ("NO_PROXY", "10.0.0.5")
    assert env.no_proxy({"NO_PROXY": "localhost"}, "10.0.0.5") == (
        "NO_PROXY",
        "localhost,10.0.0.5",
    )
    assert env.no_proxy({"no_proxy": "a,10.0.0.5"}, "10.0.0.5") == ("no_proxy", "a,10.0.0.5")


def test_detect_shell() -> None:
    assert env.detect_shell({"SHELL": "/usr/bin/fish"}) == "fish"
    assert env.detect_shell({}) is None
