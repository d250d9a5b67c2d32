"""EC2 instances that really answer: a test host (testbed/hosts.py) stands in for every
instance moto launches in one subnet.

The host answers on every address of the subnet (an AnyIP route: moto picks the instance's
address at random inside it). When moto launches an instance there, this does what cloud-init
does at first boot with the instance's user data (the test hook TESTING.md asks to be explicit):
installs the SSH host key, creates the login user with its key and passwordless sudo, sets the
host name, and (re)starts sshd. It runs inside the fault proxy's answer to RunInstances, so the
instance has "booted" before the caller hears of it. sshd is stopped while no instance runs,
so no one meets a host key that is not the instance's.
"""

from __future__ import annotations

import base64
import email
import json
import threading
from dataclasses import dataclass, field
from typing import Any

from testbed.hosts import TestHost, run
from tests import aws

LAUNCHES = ("RunInstances", "RequestSpotInstances", "TerminateInstances", "StartInstances")


@dataclass
class InstanceHost:
    host: TestHost
    cidr: str  # e.g. 10.232.1.0/28
    subnet_id: str
    ec2: aws.EC2
    booted: str = ""  # the instance whose user data the host carries now
    lock: threading.Lock = field(default_factory=threading.Lock)
    # instances whose user data was applied: as cloud-init does (once per instance), a
    # restarted instance keeps what is on its disk (a host key replaced since, say)
    initialized: set[str] = field(default_factory=set)

    def start(self) -> None:
        run(["ip", "route", "replace", self.cidr, "via", self.host.ip])
        run(["ip", "-n", self.host.ns, "route", "replace", "local", self.cidr, "dev", "lo"])
        self._sshd("stop")
        self.ec2.after.append(self._on_answer)

    def stop(self) -> None:
        if self._on_answer in self.ec2.after:
            self.ec2.after.remove(self._on_answer)
        run(["ip", "route", "del", self.cidr], check=False)

    def _sshd(self, verb: str) -> None:
        result = self.host.exec(f"systemctl {verb} ssh.socket ssh.service 2>&1 || true")
        assert result.returncode == 0, result.stdout

    def _on_answer(self, action: str) -> None:
        if action not in LAUNCHES:
            return
        with self.lock:
            running = self._running_instance()
            if running is None:
                if self.booted:
                    self._sshd("stop")
                    self.booted = ""
                return
            if running["InstanceId"] == self.booted:
                return
            if running["InstanceId"] in self.initialized:
                self._sshd("start")
                self.booted = running["InstanceId"]
                return
            self._boot(running)

    def _running_instance(self) -> dict[str, Any] | None:
        answer = self.ec2.client().describe_instances(
            Filters=[
                {"Name": "subnet-id", "Values": [self.subnet_id]},
                {"Name": "instance-state-name", "Values": ["pending", "running"]},
            ]
        )
        instances = [i for r in answer["Reservations"] for i in r["Instances"]]
        return instances[-1] if instances else None

    def _boot(self, instance: dict[str, Any]) -> None:
        raw = self.ec2.client().describe_instance_attribute(
            InstanceId=instance["InstanceId"], Attribute="userData"
        )["UserData"]["Value"]
        config = cloud_config(raw)
        root = self.host.merged
        ssh = root / "etc/ssh"
        for old in ssh.glob("ssh_host_*"):
            old.unlink()
        key = ssh / "ssh_host_ed25519_key"
        key.write_text(config["ssh_keys"]["ed25519_private"])
        key.chmod(0o600)
        (ssh / "ssh_host_ed25519_key.pub").write_text(config["ssh_keys"]["ed25519_public"])
        user = next(u for u in config["users"] if isinstance(u, dict))
        name = user["name"]
        hostname = config["hostname"]
        keys = "\n".join(user["ssh_authorized_keys"]) + "\n"
        steps = [
            f"id -u {name} >/dev/null 2>&1 || useradd -m -s /bin/bash -G sudo {name}",
            f"echo '{name} ALL=(ALL) NOPASSWD:ALL' > /etc/sudoers.d/90-cloud",
            f"install -d -m 0700 -o {name} -g {name} /home/{name}/.ssh",
            f"printf '%s' '{keys}' > /home/{name}/.ssh/authorized_keys",
            f"chown {name}: /home/{name}/.ssh/authorized_keys",
            f"chmod 600 /home/{name}/.ssh/authorized_keys",
            f"hostname {hostname}",
            f"echo {hostname} > /etc/hostname",
        ]
        if config.get("manage_etc_hosts"):  # as cloud-init does: sudo looks the name up
            steps += [
                "sed -i '/^127.0.1.1 /d' /etc/hosts",
                f"echo '127.0.1.1 {hostname}' >> /etc/hosts",
            ]
        steps.append("systemctl restart ssh.service")
        script = "; ".join(steps)
        result = self.host.exec(script)
        assert result.returncode == 0, result.stdout + result.stderr
        self.booted = instance["InstanceId"]
        self.initialized.add(self.booted)


def cloud_config(user_data_b64: str) -> dict[str, Any]:
    """Our #cloud-config part of an instance's user data (alone, or in a MIME multipart)."""
    data = base64.b64decode(user_data_b64)
    if not data.startswith((b"#cloud-config", b"Content-Type")):
        data = base64.b64decode(data)  # a spot request's user data, encoded once more
    if data.startswith(b"Content-Type"):
        for part in email.message_from_bytes(data).walk():
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes) and payload.startswith(b"#cloud-config"):
                data = payload
                break
    text = data.decode()
    assert text.startswith("#cloud-config\n"), text[:200]
    return dict(json.loads(text.split("\n", 1)[1]))
