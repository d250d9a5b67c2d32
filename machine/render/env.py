"""Pure rendering of the shell exports `machine env` prints, docker-machine's format to the byte.

For the shells docker-machine knew (sh-family, fish, powershell, cmd, emacs, tcsh) the output is
identical for ordinary values; values holding quote or `$` characters are escaped where the shell
would otherwise run them. nushell, dotenv and json are our additions.
"""

from __future__ import annotations

import json
import os
from typing import NamedTuple

SHELLS = ("bash", "sh", "zsh", "fish", "powershell", "cmd", "emacs", "tcsh", "nu", "dotenv", "json")


class _Style(NamedTuple):
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


# Characters no supported shell treats specially inside the quotes each uses: a value made of
# these prints exactly as docker-machine printed it.
_PLAIN = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./:=@,+%-[] ")


class UnsafeValue(ValueError):
    """A value no quoting makes arrive literally in the chosen shell (a line break)."""


def _escape(shell: str, value: str) -> str:
    """The value inside the shell's quotes, escaped so that it arrives literally.

    Ordinary values are left as they are (docker-machine's output, byte for byte).
    """
    if "\n" in value or "\r" in value or "\0" in value:
        raise UnsafeValue("a line break would end the line and start a command")
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
    elif key == "cmd":
        for ch in "^&|<>()":
            value = value.replace(ch, "^" + ch)
        value = value.replace("%", "%%")
    return value


def _tcsh_value(value: str) -> str:
    """tcsh runs backquotes and expands `$` and `!` inside double quotes: a value holding any
    such character goes in single quotes instead, with `'` and `!` escaped."""
    if all(c in _PLAIN for c in value):
        return f'"{value}"'
    opening = value.find("{")
    if opening >= 0 and "}" in value[opening:]:
        # tcsh expands braces in the words of `eval \`...\`` before any quote counts
        raise UnsafeValue(r"tcsh would expand its {...} (brace expansion) in `eval \`...\``")
    return "'" + value.replace("'", "'\\''").replace("!", "\\!") + "'"


def _dotenv_value(value: str) -> str:
    if all(c in _PLAIN for c in value) and " " not in value:
        return value
    if "'" in value:
        raise UnsafeValue("a dotenv value cannot hold both blanks or quotes and a single quote")
    return f"'{value}'"


def usage_hint(shell: str, argv: list[str]) -> str:
    """The two comment lines telling the user how to eval the output, built from their argv."""
    args = _hint_words(argv)
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


def _hint_words(argv: list[str]) -> list[str]:
    """The command line for the hint, as typed; but a hint is a comment line that the user's
    `eval` reads too (tcsh even runs its backquotes), so a word with characters a shell acts
    on is left out, and the hint stays a comment."""
    words: list[str] = []
    for word in argv[1:]:
        if word and all(c in _PLAIN for c in word) and " " not in word:
            words.append(word)
        elif words and words[-1].startswith("-"):
            words.pop()  # the option whose value this was
    prog = argv[0] if argv else "machine"
    if not all(c in _PLAIN or c == "\\" for c in prog):
        prog = os.path.basename(prog) if all(c in _PLAIN for c in os.path.basename(prog)) else ""
    return [prog or "machine", *words]


def render(shell: str, variables: list[tuple[str, str]], argv: list[str]) -> str:
    """Set `variables` in `shell`'s syntax, followed by the usage hint. Raises UnsafeValue
    (naming the variable) for a value that cannot arrive literally."""
    if shell == "json":
        return json.dumps(dict(variables), indent=4) + "\n"
    style = _SET[_style_key(shell)]
    lines = []
    for name, value in variables:
        try:
            if shell == "tcsh":
                line = f"{style.prefix}{name} {_tcsh_value(_escape(shell, value))};\n"
            elif shell == "dotenv":
                line = f"{name}={_dotenv_value(_escape(shell, value))}\n"
            else:
                line = f"{style.prefix}{name}{style.delimiter}{_escape(shell, value)}{style.suffix}"
        except UnsafeValue as exc:
            raise UnsafeValue(f"the value of {name} ({value!r}) cannot be set: {exc}") from None
        lines.append(line)
    text = "".join(lines)
    if shell == "dotenv":
        return text
    return text + usage_hint(shell, argv)


def render_unset(shell: str, names: list[str], argv: list[str]) -> str:
    if shell == "json":
        return json.dumps(dict.fromkeys(names), indent=4) + "\n"
    lines = _unset_lines(shell, names)
    if shell == "dotenv":
        return lines
    return lines + usage_hint(shell, argv)


def _unset_lines(shell: str, names: list[str]) -> str:
    style = _UNSET[_style_key(shell)]
    return "".join(f"{style.prefix}{name}{style.delimiter}{style.suffix}" for name in names)


def render_switch(
    shell: str, unset: list[str], variables: list[tuple[str, str]], argv: list[str]
) -> str:
    """Unset `unset`, then set `variables`, with one usage hint (`env --context`: the
    DOCKER_HOST of an earlier `eval` would otherwise win over DOCKER_CONTEXT). dotenv files
    cannot unset: they only get the variables."""
    if shell == "json":
        return json.dumps({**dict.fromkeys(unset), **dict(variables)}, indent=4) + "\n"
    if shell == "dotenv":
        return render(shell, variables, argv)
    return _unset_lines(shell, unset) + render(shell, variables, argv)


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
