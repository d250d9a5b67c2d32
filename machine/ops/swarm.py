"""Swarm mode across machines: the engine's own clustering, driven over each machine's TLS API.

A machine makes a new swarm (`init`) or joins the swarm of another machine (`join`, as a
worker or a manager); join tokens are read from the manager when needed and never stored.
Nodes advertise the address clients reach their engine on (the driver's endpoint: a
host-only or private address, not a NAT port), unless the user names another. Leaving drains
the node first and removes it from the managers' node list, so no "Down" node stays behind;
a removal that would leave workers without a manager, or the managers without quorum, is
refused unless forced.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from machine.errors import MachineError
from machine.frozen import frozen
from machine.ops.context import Context, load, tls_files

if TYPE_CHECKING:
    from machine.store.filestore import Store

SWARM_PORT = 2377
TIMEOUT = 60.0  # an init or join waits for the raft store to settle


@frozen
class Member:
    """A machine's engine and what its /info says of swarm mode."""

    name: str
    url: str
    files: Any  # dockerapi.TLSFiles
    ip: str
    node_id: str
    state: str  # LocalNodeState: inactive, pending, active, error, locked
    manager: bool  # ControlAvailable
    cluster: str  # the swarm's ID ("" when not in one)
    managers: tuple[str, ...] = ()  # RemoteManagers' addresses (host:port), as advertised


def member(ctx: Context, name: str, timeout: float = 15.0) -> Member:
    from machine.docker import dockerapi

    _record, driver = load(ctx, name)
    if not driver.features.provisions_engine:
        raise MachineError(f'Machine "{name}" ({driver.name}) has no engine of its own to cluster')
    ep = driver.endpoint()
    files = tls_files(ctx.store, name)
    try:
        info = dockerapi.call(ep.docker_url, "GET", "/info", files, timeout)
    except OSError as exc:
        raise MachineError(f'The engine of "{name}" did not answer: {exc}') from None
    swarm = info.get("Swarm", {}) if isinstance(info, dict) else {}
    cluster = swarm.get("Cluster") or {}
    return Member(
        name=name,
        url=ep.docker_url,
        files=files,
        ip=ep.ip,
        node_id=str(swarm.get("NodeID") or ""),
        state=str(swarm.get("LocalNodeState") or "inactive"),
        manager=bool(swarm.get("ControlAvailable")),
        cluster=str(cluster.get("ID") or ""),
        managers=tuple(
            str(r.get("Addr")) for r in swarm.get("RemoteManagers") or [] if r.get("Addr")
        ),
    )


def _call(m: Member, method: str, path: str, body: object = None) -> Any:
    from machine.docker import dockerapi

    try:
        return dockerapi.call(m.url, method, path, m.files, TIMEOUT, body)
    except dockerapi.APIError as exc:
        raise MachineError(
            f'The engine of "{m.name}" refused {method} {path}: {exc.message}'
        ) from None
    except OSError as exc:
        raise MachineError(f'The engine of "{m.name}" did not answer: {exc}') from None


MEMBERSHIP = "swarm.json"  # in the machine's folder: it joined a swarm (rm leaves it first)


def _remember(ctx: Context, name: str, role: str, first: str, advertise: str, node: str) -> None:
    """`first`: the machine the swarm was started on (its name in ls's SWARM column); `node`:
    its node ID, for taking it off the node list when its engine no longer answers."""
    import json

    from machine.store.files import write_atomic

    path = ctx.store.machine_dir(name) / MEMBERSHIP
    entry = {"role": role, "first": first, "advertise": advertise, "node": node}
    write_atomic(path, json.dumps(entry) + "\n")


def membership(store: Store, name: str) -> dict[str, str]:
    """What `machine` last made of `name` in a swarm ({} when it made nothing): the role,
    the swarm's first manager and the address the node advertises. Read from the machine's
    folder, without asking the engine (a role changed with the docker CLI is not seen)."""
    import json

    try:
        data = json.loads((store.machine_dir(name) / MEMBERSHIP).read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: str(data.get(k) or "") for k in ("role", "first", "advertise", "node")}


def first_manager(ctx: Context, name: str) -> str:
    return membership(ctx.store, name).get("first", "")


def in_swarm(ctx: Context, name: str) -> bool:
    return (ctx.store.machine_dir(name) / MEMBERSHIP).exists()


def init(ctx: Context, name: str, advertise: str = "") -> str:
    """Make `name` the first manager of a new swarm; its node ID."""
    m = member(ctx, name)
    if m.state == "active":
        raise MachineError(f'Machine "{name}" is already in a swarm', hint="Leave it first.")
    node = _call(
        m,
        "POST",
        "/swarm/init",
        {"ListenAddr": f"0.0.0.0:{SWARM_PORT}", "AdvertiseAddr": advertise or m.ip},
    )
    _remember(ctx, name, "manager", name, advertise or m.ip, str(node))
    return str(node)


def join(ctx: Context, name: str, manager: str, role: str = "worker", advertise: str = "") -> None:
    """Join `name` to the swarm `manager` is a manager of, as `role`. A node already in that
    swarm gets the role (promoted or demoted) instead."""
    if role not in ("worker", "manager"):
        raise MachineError(f"--role must be worker or manager, not {role!r}")
    if name == manager:
        raise MachineError(f'Machine "{name}" cannot join its own swarm')
    lead = member(ctx, manager)
    if lead.state != "active" or not lead.manager:
        raise MachineError(
            f'Machine "{manager}" is not a manager of a swarm',
            hint=f"Start one with `swarm init {manager}`.",
        )
    m = member(ctx, name)
    if m.state == "active":
        if not _knows(lead, m):
            raise MachineError(f'Machine "{name}" is in another swarm', hint="Leave it first.")
        _set_role(lead, m.node_id, role)
        known = membership(ctx.store, name).get("advertise", "")
        first = first_manager(ctx, manager) or manager
        _remember(ctx, name, role, first, known or m.ip, m.node_id)
        return
    tokens = _call(lead, "GET", "/swarm").get("JoinTokens", {})
    token = tokens.get("Manager" if role == "manager" else "Worker")
    if not token:
        raise MachineError(f'Machine "{manager}" gave no join token')
    _call(
        m,
        "POST",
        "/swarm/join",
        {
            "ListenAddr": f"0.0.0.0:{SWARM_PORT}",
            "AdvertiseAddr": advertise or m.ip,
            # where the managers advertise themselves (reachable from the other nodes)
            "RemoteAddrs": list(lead.managers) or [f"{lead.ip}:{SWARM_PORT}"],
            "JoinToken": token,
        },
    )
    joined = member(ctx, name)  # its node ID exists from now on
    first = first_manager(ctx, manager) or manager
    _remember(ctx, name, role, first, advertise or m.ip, joined.node_id)


def _knows(lead: Member, m: Member) -> bool:
    """Whether `m` is a node of the swarm `lead` manages (a worker's /info names no cluster)."""
    if m.manager:
        return m.cluster == lead.cluster
    return any(n.node_id == m.node_id for n in nodes_of(lead, {}))


def _node(lead: Member, node_id: str) -> dict[str, Any]:
    node = _call(lead, "GET", f"/nodes/{node_id}")
    if not isinstance(node, dict):
        raise MachineError(f"node {node_id} is unknown to {lead.name}")
    return node


def _update(lead: Member, node_id: str, **spec: str) -> None:
    node = _node(lead, node_id)
    body = {**node.get("Spec", {}), **spec}
    version = node.get("Version", {}).get("Index", 0)
    _call(lead, "POST", f"/nodes/{node_id}/update?version={version}", body)


ROLE_WAIT = 90.0  # seconds for a promoted node to become a reachable manager (raft catch-up)


def _set_role(lead: Member, node_id: str, role: str) -> None:
    """Promote or demote, and return once the swarm says it is done."""
    import time

    if _node(lead, node_id).get("Spec", {}).get("Role") != role:
        _update(lead, node_id, Role=role)
    deadline = time.monotonic() + ROLE_WAIT
    while True:
        status = (_node(lead, node_id).get("ManagerStatus") or {}).get("Reachability", "")
        # a manager is done once reachable; a worker once out of the raft group (no status:
        # an unreachable manager stays "unreachable" until its demotion is applied)
        done = status == "reachable" if role == "manager" else not status
        if done:
            return
        if time.monotonic() > deadline:
            raise MachineError(
                f"node {node_id[:12]} did not become a {role} within {ROLE_WAIT:.0f} s "
                f"(manager status: {status or 'none'})"
            )
        time.sleep(1)


@frozen
class Node:
    machine: str  # "" for a node that is no machine of this store
    node_id: str
    hostname: str
    role: str
    leader: bool
    state: str  # ready, down, ...
    availability: str  # active, pause, drain
    engine: str
    cluster: str


def nodes_of(lead: Member, machines: dict[str, str]) -> list[Node]:
    """Every node of `lead`'s swarm; `machines` maps node IDs to machine names."""
    out = []
    for n in _call(lead, "GET", "/nodes") or []:
        spec, desc, status = n.get("Spec", {}), n.get("Description", {}), n.get("Status", {})
        out.append(
            Node(
                machine=machines.get(n.get("ID", ""), ""),
                node_id=n.get("ID", ""),
                hostname=desc.get("Hostname", ""),
                role=spec.get("Role", ""),
                leader=bool((n.get("ManagerStatus") or {}).get("Leader")),
                state=status.get("State", ""),
                availability=spec.get("Availability", ""),
                engine=(desc.get("Engine") or {}).get("EngineVersion", ""),
                cluster=lead.cluster,
            )
        )
    return out


def members(ctx: Context, joined_only: bool = False) -> list[Member]:
    """The store's machines that are in a swarm, asked together (machines that do not answer
    are left out); `joined_only`: only those `machine` joined to one (they have swarm.json)."""
    from concurrent.futures import ThreadPoolExecutor

    names = [n for n in ctx.store.list_names() if not joined_only or in_swarm(ctx, n)]

    def ask(name: str) -> Member | None:
        try:
            m = member(ctx, name, timeout=10.0)
        except (MachineError, OSError):
            return None
        return m if m.state == "active" else None

    if not names:
        return []
    with ThreadPoolExecutor(max_workers=min(16, len(names))) as pool:
        return [m for m in pool.map(ask, names) if m is not None]


def swarms(ctx: Context) -> list[list[Node]]:
    """The nodes of each swarm the store's machines are in, asked of one manager each."""
    found = members(ctx)
    by_node = {m.node_id: m.name for m in found}
    out = []
    for cluster in sorted({m.cluster for m in found}):
        leads = [m for m in found if m.cluster == cluster and m.manager]
        if leads:
            out.append(nodes_of(leads[0], by_node))
    return out


def why_not_remove(ctx: Context, name: str) -> str:
    """Why removing machine `name` would break its swarm ("" when it would not)."""
    try:
        m = member(ctx, name, timeout=10.0)
    except MachineError:
        return ""  # not reachable: nothing to ask (rm -f is for that case)
    if m.state != "active" or not m.manager:
        return ""
    return removal_problem(name, nodes_of(m, {}))


def removal_problem(name: str, nodes: list[Node]) -> str:
    """The swarm rule for taking away one reachable manager (`name`) of `nodes`: workers keep
    a manager, and the managers left keep a majority of themselves reachable (raft quorum)."""
    managers = [n for n in nodes if n.role == "manager"]
    reachable = [n for n in managers if n.state == "ready"]
    workers = [n for n in nodes if n.role == "worker"]
    if len(managers) == 1 and workers:
        return (
            f'"{name}" is the last manager of a swarm that still has {len(workers)} worker(s): '
            "they would be left without a manager"
        )
    after = len(managers) - 1
    if after and len(reachable) - 1 < after // 2 + 1:
        return (
            f'removing "{name}" would leave {len(reachable) - 1} of {after} managers '
            "reachable: the swarm would lose its quorum"
        )
    return ""


def leave(ctx: Context, name: str, force: bool = False) -> None:
    """Drain `name`, demote it if it manages, have it leave, and remove its node from the
    managers' list (no Down entry stays)."""
    try:
        m = member(ctx, name)
    except MachineError as exc:
        _take_off(ctx, name, exc, force)
        return
    if m.state != "active":
        (ctx.store.machine_dir(name) / MEMBERSHIP).unlink(missing_ok=True)
        return
    if not force and (why := why_not_remove(ctx, name)):
        raise MachineError(f"Refusing to take {why}.", hint="Use -f to do it anyway.")
    others = [o for o in members(ctx, True) if o.manager and o.name != name and _knows(o, m)]
    lead = others[0] if others else None
    if lead is not None:
        _update(lead, m.node_id, Availability="drain")
        _set_role(lead, m.node_id, "worker")
    _call(m, "POST", f"/swarm/leave?force={'true' if force or lead is None else 'false'}")
    if lead is not None:
        _call(lead, "DELETE", f"/nodes/{m.node_id}?force=true")
    (ctx.store.machine_dir(name) / MEMBERSHIP).unlink(missing_ok=True)


def _take_off(ctx: Context, name: str, silent: MachineError, force: bool) -> None:
    """`name`'s engine does not answer (a stopped VM, a host that is gone): another manager
    of its swarm takes its node off the list (demoted first if it managed). Forced, with no
    such manager, the machine just stops counting as a member."""
    node_id = membership(ctx.store, name).get("node", "")
    for lead in members(ctx, True):
        if not lead.manager or lead.name == name or not node_id:
            continue
        try:
            node = _node(lead, node_id)
        except MachineError:
            continue  # another swarm's manager
        if node.get("Spec", {}).get("Role") == "manager":
            _set_role(lead, node_id, "worker")
        _call(lead, "DELETE", f"/nodes/{node_id}?force=true")
        (ctx.store.machine_dir(name) / MEMBERSHIP).unlink(missing_ok=True)
        return
    if force:
        (ctx.store.machine_dir(name) / MEMBERSHIP).unlink(missing_ok=True)
        return
    raise MachineError(
        f"{silent.message}, and no other manager of its swarm in this store answers to take "
        "it off the node list",
        hint=f"Start it (`machine start {name}`) and try again, or use -f to go on anyway "
        "(its node stays in the swarm as Down).",
    )
