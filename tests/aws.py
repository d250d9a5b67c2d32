"""An EC2 for tests: moto's server on 127.0.0.1 (a simulator), and a proxy in front of it
that injects faults (an error for a chosen call, throttling, a hang) where a test asks.

Nothing boots in moto and its default subnets hand out public-looking addresses, so tests give
instances a subnet of 10.232.0.0/16 (routed to nowhere but our own test hosts: see `fence`).
The proxy also strips every public address from EC2's answers and refuses (TestFenceViolation)
any answer that names a private address outside that range: the CLI cannot learn an address
that is not ours, whatever a test or moto gets wrong.
"""

from __future__ import annotations

import os
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

VPC_CIDR = "10.232.0.0/16"
REGION = "us-east-1"
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": REGION,
}


def _settings() -> None:
    # moto reads these when it is imported: unknown AMIs and key pairs are then refused
    os.environ["MOTO_ENABLE_AMI_VALIDATION"] = "true"
    os.environ["MOTO_ENABLE_KEYPAIR_VALIDATION"] = "true"


@dataclass
class Fault:
    action: str  # EC2 Action, e.g. "RunInstances"
    code: str = "UnauthorizedOperation"
    status: int = 403
    times: int = 1  # how many calls fail (then they pass)
    hang: float = 0.0  # seconds to hold the answer (after forwarding, when code is "")


@dataclass
class EC2:
    """moto's server plus the fault proxy; `url` is what the CLI is pointed at."""

    moto_url: str
    url: str = ""
    faults: list[Fault] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)  # every Action the proxy saw, in order
    lock: threading.Lock = field(default_factory=threading.Lock)
    # called with the Action after moto did it and before the caller hears back: a test host
    # can "boot" an instance before RunInstances returns, as no real instance could be faster
    after: list[Callable[[str], None]] = field(default_factory=list)
    # True: an instance's public address is answered as its private one (the 1:1 NAT that
    # makes a public address reach the instance), instead of being removed
    nat: bool = False

    def client(self, service: str = "ec2", region: str = REGION) -> Any:
        import boto3

        return boto3.client(
            service,
            endpoint_url=self.moto_url,
            region_name=region,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def env(self) -> dict[str, str]:
        """What the CLI needs to find this EC2 (and only it)."""
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("AWS_", "DOCKER_")) or k == "DOCKER_CONFIG"
        }
        env.update(CREDENTIALS)
        env["AWS_ENDPOINT_URL_EC2"] = self.url
        env["AWS_ENDPOINT_URL_SSM"] = self.url
        env["AWS_CONFIG_FILE"] = env["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
        return env

    def fail(self, action: str, code: str = "UnauthorizedOperation", **kw: Any) -> Fault:
        fault = Fault(action, code, **kw)
        with self.lock:
            self.faults.append(fault)
        return fault

    def reset(self) -> None:
        with self.lock:
            self.faults.clear()
            self.calls.clear()

    def _fault_for(self, action: str) -> Fault | None:
        with self.lock:
            self.calls.append(action)
            for fault in self.faults:
                if fault.action == action and fault.times > 0:
                    fault.times -= 1
                    return fault
        return None

    def subnet(self, cidr: str, zone: str = "a", region: str = REGION) -> tuple[str, str]:
        """(vpc id, subnet id) of a subnet in the test VPC (made once)."""
        ec2 = self.client(region=region)
        vpcs = ec2.describe_vpcs(Filters=[{"Name": "cidr", "Values": [VPC_CIDR]}])["Vpcs"]
        vpc = vpcs[0]["VpcId"] if vpcs else ec2.create_vpc(CidrBlock=VPC_CIDR)["Vpc"]["VpcId"]
        subnets = ec2.describe_subnets(Filters=[{"Name": "cidr-block", "Values": [cidr]}])
        if subnets["Subnets"]:
            return vpc, subnets["Subnets"][0]["SubnetId"]
        made = ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=region + zone)
        return vpc, made["Subnet"]["SubnetId"]

    def ubuntu_ami(self) -> str:
        """An Ubuntu image from moto's catalogue (AMI validation is on)."""
        images = self.client().describe_images(
            Filters=[{"Name": "name", "Values": ["ubuntu/images/*"]}]
        )["Images"]
        return str(sorted(images, key=lambda i: i["ImageId"])[0]["ImageId"])

    def leftovers(self) -> dict[str, list[str]]:
        """What exists besides moto's own defaults: live instances, key pairs, our groups."""
        ec2 = self.client()
        live = [
            i["InstanceId"]
            for r in ec2.describe_instances()["Reservations"]
            for i in r["Instances"]
            if i["State"]["Name"] != "terminated"
        ]
        keys = [k["KeyName"] for k in ec2.describe_key_pairs()["KeyPairs"]]
        groups = [
            g["GroupId"]
            for g in ec2.describe_security_groups()["SecurityGroups"]
            if g["GroupName"] != "default"
        ]
        spots = [
            s["SpotInstanceRequestId"]
            for s in ec2.describe_spot_instance_requests()["SpotInstanceRequests"]
            if s["State"] in ("open", "active")
        ]
        return {"instances": live, "key_pairs": keys, "groups": groups, "spot_requests": spots}


def _error_body(code: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error>'
        f"<Code>{code}</Code><Message>injected by the test proxy</Message>"
        "</Error></Errors><RequestID>test</RequestID></Response>"
    ).encode()


def _fenced(data: bytes, nat: bool = False) -> tuple[bytes, list[str]]:
    """The answer without public addresses (moto makes up real-looking ones: the CLI must never
    learn one) unless they were translated (`_nat`), and the addresses in it that are outside
    the test VPC."""
    import ipaddress
    import re

    public = rb"<(ipAddress|publicIp|publicIpAddress)>([^<]*)</\1>"
    if nat:
        shown = [m[1] for m in re.findall(public, data) if m[1]]
    else:
        data, shown = re.sub(public, b"", data), []
    fence = ipaddress.ip_network(VPC_CIDR)
    stray = [
        ip.decode()
        for ip in re.findall(rb"<privateIpAddress>([^<]+)</privateIpAddress>", data) + shown
        if ipaddress.ip_address(ip.decode()) not in fence
    ]
    return data, stray


def _nat(ec2: EC2, data: bytes) -> bytes:
    """Each public address in an answer replaced by its instance's private address."""
    import re

    mapping = {
        i["PublicIpAddress"]: i["PrivateIpAddress"]
        for r in ec2.client().describe_instances()["Reservations"]
        for i in r["Instances"]
        if i.get("PublicIpAddress") and i.get("PrivateIpAddress")
    }

    def swap(m: re.Match[bytes]) -> bytes:
        tag, public = m.group(1).decode(), m.group(2).decode()
        return f"<{tag}>{mapping.get(public, '')}</{tag}>".encode()

    return re.sub(rb"<(ipAddress|publicIp|publicIpAddress)>([^<]*)</\1>", swap, data)


def default_vpc_in_test_range(ec2: EC2, cidr: str, zone: str = "a") -> str:
    """Make the simulated account's default VPC one in the test range (moto's own is
    172.31.0.0/16, which tests may not reach), with a default subnet `cidr` in `zone`; its
    subnet id. moto runs in this process, so its state is set directly."""
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.ec2.models import ec2_backends

    backend = ec2_backends[DEFAULT_ACCOUNT_ID][REGION]
    for vpc in backend.vpcs.values():
        vpc.is_default = False
    for subnet in backend.describe_subnets():
        subnet.default_for_az = False
    vpc = backend.create_vpc(VPC_CIDR, is_default=True)
    subnet = backend.create_subnet(vpc_id=vpc.id, cidr_block=cidr, availability_zone=REGION + zone)
    subnet.default_for_az = True
    subnet.map_public_ip_on_launch = True
    return str(subnet.id)


def _proxy(ec2: EC2) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            action = urllib.parse.parse_qs(body.decode(errors="replace")).get("Action", [""])[0]
            if not action:  # JSON protocols (SSM) name it in a header
                action = self.headers.get("X-Amz-Target", "").rpartition(".")[2]
            fault = ec2._fault_for(action)
            if fault is not None and fault.code:
                self._answer(fault.status, _error_body(fault.code), "text/xml")
                return
            headers = {
                k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")
            }
            # moto's own address on 127.0.0.1: no other scheme or host can reach here
            url = ec2.moto_url + self.path
            request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
            try:
                with urllib.request.urlopen(request, timeout=60) as answer:  # noqa: S310
                    status, data = answer.status, answer.read()
                    kind = answer.headers.get("Content-Type", "text/xml")
            except urllib.error.HTTPError as exc:
                status, data = exc.code, exc.read()
                kind = exc.headers.get("Content-Type", "text/xml")
            if status == 200 and b"<privateIpAddress>" in data:
                data, stray = _fenced(_nat(ec2, data) if ec2.nat else data, ec2.nat)
                if stray:
                    self._answer(400, _error_body("TestFenceViolation"), "text/xml")
                    raise AssertionError(f"{action} answered addresses outside {VPC_CIDR}: {stray}")
            if status == 200:
                for hook in list(ec2.after):
                    hook(action)
            if fault is not None and fault.hang:
                time.sleep(fault.hang)  # the call happened; its answer is late
            self._answer(status, data, kind)

        def _answer(self, status: int, data: bytes, kind: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    return server


@contextmanager
def running() -> Iterator[EC2]:
    _settings()
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # a line per request otherwise

    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    ec2 = EC2(moto_url=f"http://{host}:{port}")
    proxy = _proxy(ec2)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    ec2.url = f"http://127.0.0.1:{proxy.server_address[1]}"
    try:
        yield ec2
    finally:
        proxy.shutdown()
        proxy.server_close()
        moto.stop()


def fence() -> bool:
    """Send every address of the test VPC nowhere (an unreachable route; the more specific
    routes to our test hosts win), so a test can never reach a stranger. False if not root."""
    import subprocess

    if os.geteuid() != 0:
        return False
    subprocess.run(["ip", "route", "replace", "unreachable", VPC_CIDR], check=True)
    return True


def machine_records(store: Path, ec2: EC2, count: int, region: str = REGION) -> list[str]:
    """`count` machines as create leaves them, their instances launched in one call."""
    from machine.store.filestore import Store
    from machine.store.record import HostOptions, HostRecord

    client = ec2.client(region=region)
    image = client.describe_images(Filters=[{"Name": "name", "Values": ["ubuntu/images/*"]}])[
        "Images"
    ][0]["ImageId"]
    _, subnet = ec2.subnet("10.232.128.0/20", region=region)  # fenced, like every test address
    answer = client.run_instances(ImageId=image, MinCount=count, MaxCount=count, SubnetId=subnet)
    ids = [i["InstanceId"] for i in answer["Instances"]]
    s = Store(store)
    s.ensure_layout()
    for n, ident in enumerate(ids):
        name = f"{region}-m{n:03d}"
        s.create_dir(name)
        s.save(
            HostRecord(
                Name=name,
                DriverName="amazonec2",
                Driver={
                    "MachineName": name,
                    "StorePath": str(store),
                    "Region": region,
                    "InstanceId": ident,
                    "IPAddress": f"10.232.254.{n % 250 + 1}",
                    "SSHUser": "ubuntu",
                },
                HostOptions=HostOptions(Driver="amazonec2"),
            )
        )
    return ids
