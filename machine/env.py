"""Pure rendering of the shell exports `machine env` prints, docker-machine's format to the byte.

For the shells docker-machine knew (sh-family, fish, powershell, cmd, emacs, tcsh) the output is
identical for ordinary values; values holding quote or `$` characters are escaped where the shell
would otherwise run them. nushell, dotenv and json are our additions.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

SHELLS = ("bash", "sh", "zsh", "fish", "powershell", "cmd", "emacs", "tcsh", "nu", "dotenv", "json")


@dataclass(frozen=True)
class _Style:
    prefix: str
    delimiter: str
    suffix: str


_SET: dict[str, _Style] = {
    "fish": _Style("set -gx ", ' "', '";\n'),
    "powershell": _Style("$Env:", ' = "', '"\n'),
    "cmd": _Style("SET ", "=", "\n"),
    "emacs": _Style('(setenv "', '" "', '")\n'),
    "tcsh": _Style("setenv ", ' "', '";\n'),
    "nu": _Style("$env.", ' = "', '"\n'),
    "dotenv": _Style("", "=", "\n"),
    "default": _Style("export ", '="', '"\n'),
}

_UNSET: dict[str, _Style] = {
    "fish": _Style("set -e ", "", ";\n"),
    # docker-machine prints two backslashes here (a Go raw string); PowerShell accepts it.
    "powershell": _Style("Remove-Item Env:\\\\", "", "\n"),
    "cmd": _Style("SET ", "=", "\n"),
    "emacs": _Style('(setenv "', '" nil', ")\n"),
    "tcsh": _Style("unsetenv ", "", ";\n"),
    "nu": _Style("hide-env ", "", "\n"),
    "dotenv": _Style("", "=", "\n"),
    "default": _Style("unset ", "", "\n"),
}


def _style_key(shell: str) -> str:
    return shell if shell in _SET else "default"


def _escape(shell: str, value: str) -> str:
    """Escape only what would break the quoting (identical output for ordinary values)."""
    key = _style_key(shell)
    if key in ("default", "nu"):
        for ch in ("\\", '"', "$", "`"):
            value = value.replace(ch, "\\" + ch)
    elif key in ("fish", "emacs"):
        for ch in ("\\", '"'):
            value = value.replace(ch, "\\" + ch)
        if key == "fish":
            value = value.replace("$", "\\$")
    elif key == "powershell":
        value = value.replace("`", "``").replace('"', '`"').replace("$", "`$")
    elif key == "tcsh":
        value = value.replace('"', '"\\""')
    return value


def usage_hint(shell: str, argv: list[str]) -> str:
    """The two comment lines telling the user how to eval the output, built from their argv."""
    args = list(argv)
    if args and (" " in args[0] or "\\" in args[0]):
        args[0] = f'"{args[0]}"'
    line = " ".join(args)
    comment = "#"
    key = _style_key(shell)
    if key == "fish":
        cmd = f"eval ({line})"
    elif key == "powershell":
        cmd = f"& {line} | Invoke-Expression"
    elif key == "cmd":
        cmd = f"\t@FOR /f \"tokens=*\" %i IN ('{line}') DO @%i"
        comment = "REM"
    elif key == "emacs":
        cmd = f'(with-temp-buffer (shell-command "{line}" (current-buffer)) (eval-buffer))'
        comment = ";;"
    elif key == "tcsh":
        cmd = f"eval `{line}`"
        comment = ":"
    elif key == "nu":
        cmd = f"{line} | lines | parse '$env.{{name}} = \"{{value}}\"' | transpose -r | load-env"
    else:
        cmd = f"eval $({line})"
    # The trailing space after "shell:" is docker-machine's, kept for byte-for-byte output.
    return f"{comment} Run this command to configure your shell: \n{comment} {cmd}\n"


def render(shell: str, variables: list[tuple[str, str]], argv: list[str]) -> str:
    """Set `variables` in `shell`'s syntax, followed by the usage hint."""
    if shell == "json":
        return json.dumps(dict(variables), indent=4) + "\n"
    style = _SET[_style_key(shell)]
    lines = "".join(
        f"{style.prefix}{name}{style.delimiter}{_escape(shell, value)}{style.suffix}"
        for name, value in variables
    )
    if shell == "dotenv":
        return lines
    return lines + usage_hint(shell, argv)


def render_unset(shell: str, names: list[str], argv: list[str]) -> str:
    if shell == "json":
        return json.dumps(dict.fromkeys(names), indent=4) + "\n"
    style = _UNSET[_style_key(shell)]
    lines = "".join(f"{style.prefix}{name}{style.delimiter}{style.suffix}" for name in names)
    if shell == "dotenv":
        return lines
    return lines + usage_hint(shell, argv)


def no_proxy(environ: dict[str, str], ip: str) -> tuple[str, str]:
    """The proxy-bypass variable and its value with the machine's IP added (docker-machine's)."""
    name = "no_proxy" if environ.get("no_proxy") else "NO_PROXY"
    current = environ.get(name, "")
    if not current:
        return name, ip
    if ip in current:
        return name, current
    return name, f"{current},{ip}"


def no_proxy_name(environ: dict[str, str]) -> str:
    return "no_proxy" if environ.get("no_proxy") else "NO_PROXY"


def detect_shell(environ: dict[str, str]) -> str | None:
    """basename($SHELL), or None when $SHELL is unset (docker-machine then fails)."""
    value = environ.get("SHELL", "")
    if not value:
        return None
    return os.path.basename(value)
