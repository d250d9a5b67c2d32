"""A fault-injecting proxy in front of vcsim (as tests/aws.py has for moto): it terminates TLS
with a certificate of its own, forwards every request (SOAP, NFC uploads) to vcsim, records the
SOAP method of each call, and on request fails a method with a vSphere fault, answers it late,
or drops the connection without an answer."""

from __future__ import annotations

import http.client
import re
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

METHOD = re.compile(rb"<(?:soapenv:)?Body[^>]*>\s*<(\w+)[\s>/]")
FAULT = """<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"
 xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<soapenv:Body><soapenv:Fault><faultcode>ServerFaultCode</faultcode>
<faultstring>injected by the test proxy</faultstring>
<detail><SystemErrorFault xmlns="urn:vim25" xsi:type="SystemError">
<reason>injected by the test proxy</reason></SystemErrorFault></detail>
</soapenv:Fault></soapenv:Body></soapenv:Envelope>"""


@dataclass
class Fault:
    method: str  # a SOAP method, e.g. "ImportVApp", or "PUT" for an NFC upload
    kind: str = "fault"  # fault: a SystemError; drop: no answer at all; hang: a late answer
    times: int = 1
    hang: float = 0.0


@dataclass
class Proxy:
    endpoint: Any  # testbed.vcsim.Endpoint of the proxy itself (its port and certificate)
    upstream: tuple[str, int]
    faults: list[Fault] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail(self, method: str, kind: str = "fault", **kw: Any) -> Fault:
        fault = Fault(method, kind, **kw)
        with self.lock:
            self.faults.append(fault)
        return fault

    def reset(self) -> None:
        with self.lock:
            self.faults.clear()
            self.calls.clear()

    def _fault_for(self, method: str) -> Fault | None:
        with self.lock:
            self.calls.append(method)
            for fault in self.faults:
                if fault.method == method and fault.times > 0:
                    fault.times -= 1
                    return fault
        return None


def _handler(proxy: Proxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            self._forward()

        def do_PUT(self) -> None:
            self._forward()

        def do_GET(self) -> None:
            self._forward()

        def _forward(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0") or 0))
            found = METHOD.search(body[:4096]) if self.command == "POST" else None
            method = found.group(1).decode() if found else self.command
            fault = proxy._fault_for(method)
            if fault is not None and fault.kind == "drop":
                self.close_connection = True
                self.connection.shutdown(2)  # the caller hears nothing back
                return
            if fault is not None and fault.kind == "fault":
                self._answer(500, FAULT.encode(), "text/xml; charset=utf-8", {})
                return
            loose = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            loose.check_hostname, loose.verify_mode = False, ssl.CERT_NONE  # vcsim, local
            upstream = http.client.HTTPSConnection(*proxy.upstream, context=loose, timeout=300)
            try:
                headers = {
                    k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")
                }
                upstream.request(self.command, self.path, body=body, headers=headers)
                answer = upstream.getresponse()
                data = answer.read()
                kept = {
                    k: v
                    for k, v in answer.getheaders()
                    if k.lower() in ("set-cookie", "content-type")
                }
            finally:
                upstream.close()
            if fault is not None and fault.kind == "hang":
                time.sleep(fault.hang)  # the call happened; its answer is late
            self._answer(answer.status, data, kept.pop("Content-Type", "text/xml"), kept)

        def _answer(self, status: int, data: bytes, kind: str, headers: dict[str, str]) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


@contextmanager
def proxied(vcsim_endpoint: Any, folder: Path) -> Iterator[Proxy]:
    """The proxy on 127.0.0.1 in front of `vcsim_endpoint`, with a certificate of its own."""
    from testbed import vcsim

    folder.mkdir(parents=True, exist_ok=True)
    cert, key, thumbprint = vcsim._certificate(folder)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    own = replace(vcsim_endpoint, port=0, ca_file=cert, thumbprint=thumbprint)
    proxy = Proxy(own, (vcsim_endpoint.host, vcsim_endpoint.port))
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(proxy))
    server.daemon_threads = True
    server.socket = context.wrap_socket(server.socket, server_side=True)
    proxy.endpoint = replace(own, port=server.server_address[1])
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield proxy
    finally:
        server.shutdown()
        server.server_close()


def create_args(ep: Any) -> list[str]:
    """`machine create` of a vmwarevsphere machine on `ep` (vcsim or a proxy), pinned to its
    certificate; the password comes from $VSPHERE_PASSWORD."""
    return [
        *("create", "-d", "vmwarevsphere", "--vmwarevsphere-vcenter", ep.host),
        *("--vmwarevsphere-vcenter-port", str(ep.port)),
        *("--vmwarevsphere-username", ep.user),
        *("--vmwarevsphere-thumbprint", ep.thumbprint),
    ]


def dm_record(store: Path, name: str, ep: Any, **fields: Any) -> None:
    """A docker-machine record of a vSphere machine NAME on `ep`, made from the store's
    dm-vsphere (tests/fixtures/dm-store: docker-machine's fields, its password stored)."""
    import json
    import shutil

    folder = store / "machines" / name
    template = store / "machines" / "dm-vsphere"
    if folder != template:
        shutil.copytree(template, folder)
    record = json.loads((folder / "config.json").read_text())
    record["Name"] = name
    values = {"MachineName": name, "Port": ep.port, "Username": ep.user, "Password": ep.password}
    record["Driver"].update({**values, **fields})
    (folder / "config.json").write_text(json.dumps(record, indent=4))


def machine_records(store: Path, ep: Any, count: int, port: int = 0) -> list[str]:
    """`count` powered-off VMs on vcsim `ep` and a docker-machine store with a vSphere
    machine record for each (tests/fixtures/dm-store's dm-vsphere, pointed at them), reached
    on `port` (a proxy's) or vcsim's own. Their names."""
    import shutil

    from machine_driver_vmwarevsphere import Driver, VSphereConfig, inventory, sdk
    from machine_driver_vmwarevsphere.vm import wait
    from tests.storefixture import make_dm_store

    vim = sdk.vim()
    owner = Driver(
        VSphereConfig(
            IP=ep.host,
            Port=ep.port,
            Username=ep.user,
            Password=ep.password,
            Thumbprint=ep.thumbprint,
            MachineName="records",
        )
    )
    si = owner._si()
    place = inventory.place(si, "", "", "", "", "", ["VM Network"])
    make_dm_store(store, vcenter=ep.host)
    template = store / "machines" / "dm-vsphere"
    for other in store.glob("machines/dm-*"):
        if other != template:
            shutil.rmtree(other)  # other drivers' machines
    names = []
    for n in range(count):
        name = f"vs{n:03d}"
        spec = vim.vm.ConfigSpec(
            name=name,
            files=vim.vm.FileInfo(vmPathName=f"[{place.datastore.name}]"),
            numCPUs=1,
            memoryMB=64,
        )
        vm = wait(place.folder.CreateVM_Task(config=spec, pool=place.pool), "CreateVM")
        dm_record(store, name, ep, MachineId=vm.config.uuid, Port=port or ep.port)
        names.append(name)
    shutil.rmtree(template)
    return names
