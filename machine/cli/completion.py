"""Shell completion: `machine completion SHELL` prints a script for bash, zsh, fish or
PowerShell; the script asks `machine __complete WORDS...` for the candidates of the last word.

The candidates come from the command table itself (commands, each command's flags, the chosen
driver's create flags), the store (machine names: a folder listing, no record is parsed, no
backend is asked) and the driver registry (names from entry points). So the shells stay thin
and every shell completes the same things.
"""

from __future__ import annotations

import os

import click

SHELLS = ("bash", "zsh", "fish", "powershell")
# commands whose words are machine names (create's is a new one; these take existing ones)
TAKE_NAMES = {
    "active": False, "config": True, "env": True, "inspect": True, "ip": True, "kill": True,
    "ls": False, "mount": True, "provision": True, "regenerate-certs": True, "restart": True,
    "rm": True, "scp": True, "ssh": True, "start": True, "status": True, "stop": True,
    "upgrade": True, "url": True, "use": True, "version": True,
}  # fmt: skip
GLOBAL_VALUES = {"-s", "--storage-path", "--tls-ca-cert", "--tls-ca-key", "--tls-client-cert",
                 "--tls-client-key", "--github-api-token", "--bugsnag-api-token"}  # fmt: skip


def candidates(group: click.Group, words: list[str]) -> list[str]:
    """What may replace the last of `words` (the words after the program's name)."""
    current = words[-1] if words else ""
    before = words[:-1]
    ctx = click.Context(group, info_name="machine")
    store = os.environ.get("MACHINE_STORAGE_PATH", "")
    i = 0
    while i < len(before) and before[i].startswith("-"):
        option = before[i]
        if option in GLOBAL_VALUES and i + 1 < len(before):
            if option in ("-s", "--storage-path"):
                store = before[i + 1]
            i += 2
        else:
            i += 1
    if i >= len(before):  # the command's name, or a global option
        if before and before[-1] in GLOBAL_VALUES:
            return []  # a path or a value: the shell's own completion
        if current.startswith("-"):
            return _match(_options(group), current)
        names = [n for n in group.list_commands(ctx) if not _hidden(group.get_command(ctx, n))]
        return _match(sorted(names), current)
    name, rest = before[i], before[i + 1 :]
    command = group.get_command(ctx, name)
    if command is None:
        return []
    if name == "create":
        return _create(rest, current)
    if isinstance(command, click.Group):
        return candidates(command, [*rest, current])
    previous = rest[-1] if rest else ""
    valued = _option_named(command, previous)
    if valued is not None and not valued.is_flag:
        if previous == "--shell":
            from machine.render.env import SHELLS as ENV_SHELLS

            return _match(sorted(ENV_SHELLS), current)
        return []
    if current.startswith("-"):
        return _match(_options(command), current)
    if name == "completion":
        return _match(list(SHELLS), current) if not rest else []
    if TAKE_NAMES.get(name) and not (name == "use" and "-u" in rest):
        return _match(machine_names(store), current)
    return []


def _create(rest: list[str], current: str) -> list[str]:
    from machine.cli import driverflags
    from machine.cli.create import CreateCommand
    from machine.cli.createflags import default_driver, driver_from_args
    from machine.registry import default_registry

    registry = default_registry()
    previous = rest[-1] if rest else ""
    if previous in ("-d", "--driver"):
        return _match(registry.names(), current)
    command = CreateCommand()
    option = _option_named(command, previous)
    if option is not None and not option.is_flag:
        return []
    if not current.startswith("-"):
        return []  # a new machine's name
    options = _options(command)
    chosen = driver_from_args(rest) or default_driver(registry.names())
    if chosen:
        try:
            cls = registry.get(chosen)  # the driver module, not its SDK
        except Exception:
            cls = None
        if cls is not None:
            options += [o for p in driverflags.options(cls.Config) for o in p.opts]
    return _match(sorted(set(options)), current)


def machine_names(store: str) -> list[str]:
    from machine.store.paths import resolve_store_root

    machines = resolve_store_root(store or None) / "machines"
    try:
        return sorted(
            p.name
            for p in machines.iterdir()
            if not p.name.startswith(".") and (p / "config.json").is_file()
        )
    except OSError:
        return []


def _options(command: click.Command) -> list[str]:
    out = []
    for param in command.params:
        if isinstance(param, click.Option) and not param.hidden:
            out += [o for o in param.opts if o.startswith("--")] or list(param.opts)
    return sorted({*out, "--help"})


def _option_named(command: click.Command, word: str) -> click.Option | None:
    for param in command.params:
        if isinstance(param, click.Option) and word in param.opts:
            return param
    return None


def _hidden(command: click.Command | None) -> bool:
    return command is None or bool(command.hidden)


def _match(words: list[str], prefix: str) -> list[str]:
    return [w for w in words if w.startswith(prefix)]


def script(shell: str, prog: str) -> str:
    """The completion script for `shell`, calling `prog` for candidates."""
    if shell not in SHELLS:
        from machine.errors import UsageError

        raise UsageError(f"Error: no completion for {shell!r}: choose one of {', '.join(SHELLS)}")
    return SCRIPTS[shell].replace("@PROG@", prog).replace("@FUNC@", _identifier(prog))


def _identifier(prog: str) -> str:
    return "_" + "".join(c if c.isalnum() else "_" for c in prog) + "_complete"


# Each calls `@PROG@ __complete` with the words after the program's name, the one being
# completed last (possibly empty), and offers the lines it prints.
SCRIPTS = {
    "bash": """# bash completion for @PROG@: eval "$(@PROG@ completion bash)" (e.g. in ~/.bashrc)
@FUNC@() {
    local IFS=$'\\n'
    COMPREPLY=($(@PROG@ __complete "${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null))
}
complete -o default -F @FUNC@ @PROG@
""",
    "zsh": """#compdef @PROG@
# zsh completion for @PROG@: eval "$(@PROG@ completion zsh)" after compinit (e.g. in ~/.zshrc)
@FUNC@() {
    local -a found
    found=(${(f)"$(@PROG@ __complete "${(@)words[2,CURRENT]}" 2>/dev/null)"})
    if (( ${#found} )); then
        compadd -Q -- "${found[@]}"
    else
        _files
    fi
}
compdef @FUNC@ @PROG@
""",
    "fish": """# fish completion for @PROG@: @PROG@ completion fish | source
function @FUNC@
    set -l words (commandline -opc) (commandline -ct)
    @PROG@ __complete $words[2..-1] 2>/dev/null
end
complete -c @PROG@ -f -a '(@FUNC@)'
""",
    "powershell": """# PowerShell completion for @PROG@:
#   @PROG@ completion powershell | Out-String | Invoke-Expression
Register-ArgumentCompleter -Native -CommandName @PROG@ -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)
    $words = @($commandAst.CommandElements | Select-Object -Skip 1 |
        ForEach-Object { $_.ToString() })
    if ($wordToComplete -eq '') { $words += '' }
    & @PROG@ __complete @words 2>$null | ForEach-Object {
        [System.Management.Automation.CompletionResult]::new($_, $_, 'ParameterValue', $_)
    }
}
""",
}
