"""Every error a user can see, with its exit code and a hint that says what to do.

Messages that scripts match on keep docker-machine's wording; `NAME` in hints is the
program name the user typed (`machine` or `docker-machine`), filled in by the CLI.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_PRE_CREATE = 3
EXIT_NOT_FOUND = 4


class Terminated(KeyboardInterrupt):
    """SIGTERM (a CI job cancelled, a service stopped): unwound like Ctrl-C, so a create in
    progress removes what it made."""


class MachineError(Exception):
    """Base of every error the CLI turns into a message and an exit code."""

    exit_code = EXIT_ERROR

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class UsageError(MachineError):
    """The command line is wrong (missing name, extra arguments, bad flag value)."""


# The command's name in the commands messages suggest: "machine", or "docker-machine" when run
# under that name or with --compat. The CLI sets it once per run; every message reads it here
# (no layer below the CLI is handed the name).
_program = ["machine"]


def program() -> str:
    return _program[0]


def set_program(name: str) -> None:
    _program[0] = name


class HostNotFound(MachineError):
    exit_code = EXIT_ERROR

    def __init__(self, name: str) -> None:
        prog = program()
        super().__init__(
            f'Docker machine "{name}" does not exist. Use "{prog} ls" to list machines. '
            f'Use "{prog} create" to add a new one.'
        )
        self.name = name


class HostAlreadyExists(MachineError):
    def __init__(self, name: str, hint: str = "") -> None:
        super().__init__(f'Docker machine "{name}" already exists', hint)
        self.name = name


class Unfinished(HostNotFound):
    """The machine's folder exists but its record does not: its create was killed before it
    saved one (nothing was made outside the store yet)."""

    def __init__(self, name: str) -> None:
        MachineError.__init__(
            self,
            f'Machine "{name}" was never finished: its create was interrupted before it '
            "saved the machine's record",
            hint=f"Remove what is left with `{program()} rm -y {name}`.",
        )
        self.name = name


class HostBusy(MachineError):
    """Another process holds the machine's lock (a create, rm or provision in progress)."""

    def __init__(self, name: str, seconds: float) -> None:
        super().__init__(
            f'Machine "{name}" is locked by another process (waited {seconds:.0f}s)',
            hint="Wait for the other command to finish, then try again.",
        )


class InvalidHostname(MachineError):
    """A name that is not a machine name; refused before any path is built from it."""

    def __init__(self, name: str, creating: bool = False, why: str = "") -> None:
        prefix = "Error creating machine: " if creating else ""
        super().__init__(
            f"{prefix}Invalid hostname specified. Allowed hostname chars are: 0-9a-zA-Z . -"
            + (f" ({why})" if why else ""),
        )
        self.name = name


class ConfigFromTheFuture(MachineError):
    def __init__(self, path: str, version: int) -> None:
        super().__init__(
            "config version is from the future -- you should upgrade your Docker Machine client",
            hint=f"{path} has ConfigVersion {version}; this version reads up to 3.",
        )


class CorruptRecord(MachineError):
    def __init__(self, path: str, why: str) -> None:
        super().__init__(
            f"The machine record {path} cannot be read: {why}",
            hint="Restore it from config.json.bak if there is one, or remove the machine "
            "with `rm -f`.",
        )


class StoreDamaged(MachineError):
    """A file or folder of the store itself (not of one machine) is not what it must be."""

    def __init__(self, path: str, why: str, hint: str = "") -> None:
        super().__init__(
            f"The store cannot be used: {path} {why}",
            hint=hint or "Move it out of the way (or restore it from a backup) and try again.",
        )


class DriverNotFound(MachineError):
    def __init__(self, name: str, known: list[str]) -> None:
        listing = ", ".join(known) if known else "none installed"
        super().__init__(
            f'Driver "{name}" not found. Installed drivers: {listing}',
            hint=f'Install a package that provides the "{name}" driver '
            "(entry point group machine.drivers).",
        )


class DriverLoadError(MachineError):
    """A driver plugin is installed but cannot be imported (missing SDK, broken package)."""


class DriverUnavailable(MachineError):
    """A bundled driver whose backend SDK is not installed."""

    def __init__(self, name: str, missing: list[str], extra: str) -> None:
        super().__init__(
            f"The {name} driver needs {', '.join(missing)}, which is not installed",
            hint=f"Install it with: pip install 'machine[{extra or name}]' "
            f"(pipx: pipx install --force 'machine[{extra or name}]').",
        )


class PreCreateCheckFailed(MachineError):
    exit_code = EXIT_PRE_CREATE

    def __init__(self, why: str, hint: str = "") -> None:
        super().__init__(f'Error with pre-create check: "{why}"', hint)


class DriverError(MachineError):
    """A driver operation failed (the driver's own message is kept)."""


class NotSupported(MachineError):
    """The driver does not support this operation (e.g. stop on `generic`)."""


class HostNotRunning(MachineError):
    def __init__(self, name: str) -> None:
        super().__init__(f'Host "{name}" is not running')


class SSHUnavailable(MachineError):
    """SSH did not become reachable before its deadline."""


class SSHAuthFailed(MachineError):
    """The host refused the machine's key."""


class HostKeyMismatch(MachineError):
    """The host offered a key other than the pinned one: possibly a man in the middle."""


class ProvisionError(MachineError):
    """A step of installing or configuring the engine failed on the host."""


class UnsupportedOS(ProvisionError):
    pass


class EngineUnavailable(MachineError):
    """The engine did not answer over TLS before its deadline."""


class CertificateProblem(MachineError):
    """A stored certificate is expired, for another address, or from another CA."""


class CreateFailed(MachineError):
    """A create step failed; the message names the step and what was rolled back."""


class ImageError(MachineError):
    """A boot image cannot be found, fetched, built or converted."""


class Interrupted(ImageError):
    """A download stopped before its end; what arrived is kept and continued next time."""


class StateError(MachineError):
    """The machine already is in the state asked for (docker-machine: an error, exit 1)."""


class TemplateError(UsageError):
    """A --format / -f template that cannot be parsed or evaluated."""


class LockTimeout(Exception):
    """A lock file stayed held past the wait (turned into HostBusy or a store error)."""

    def __init__(self, path: object, waited: float) -> None:
        super().__init__(f"{path} is held by another process (waited {waited:.1f}s)")
        self.path = path
        self.waited = waited
