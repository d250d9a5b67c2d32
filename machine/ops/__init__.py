"""The only code that sequences steps: create, provision, regenerate-certs, start/stop, rm.

One module per kind of operation; this package re-exports what the CLI and the tests use.
"""

from machine.ops.context import (
    DEFAULT_WAIT,
    Context,
    auth_options,
    driver_for,
    load,
    ssh_target,
    tls_files,
)
from machine.ops.create import CreateOptions, create
from machine.ops.lifecycle import (
    kill,
    remove,
    restart,
    set_driver_state,
    ssh_endpoint,
    start,
    state_of,
    stop,
    upgrade,
)
from machine.ops.provisioning import (
    engine_config,
    ensure_context,
    provision_machine,
    regenerate_certs,
    regenerate_client_certs,
    server_cert_hosts,
    use_context,
)

__all__ = [
    "DEFAULT_WAIT",
    "Context",
    "CreateOptions",
    "auth_options",
    "create",
    "driver_for",
    "engine_config",
    "ensure_context",
    "kill",
    "load",
    "provision_machine",
    "regenerate_certs",
    "regenerate_client_certs",
    "remove",
    "restart",
    "server_cert_hosts",
    "set_driver_state",
    "ssh_endpoint",
    "ssh_target",
    "start",
    "state_of",
    "stop",
    "tls_files",
    "upgrade",
    "use_context",
]
