"""The NoCloud seed: an ISO 9660 image labelled `cidata` that gives a booting guest its login
key, its SSH host key (so our first SSH contact is already verified) and its hostname; for
machine-os also the engine's TLS files and settings, so that the engine starts once, with TLS.

It carries cloud-init's `user-data` and `meta-data` for stock cloud images, and the same facts
as plain files under `machine/` for machine-os, whose boot step needs no YAML parser. Written in
Python (pycdlib): no genisoimage or xorriso on the host.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass

VOLUME_LABEL = "cidata"


@dataclass(frozen=True)
class Seed:
    hostname: str
    user: str
    authorized_key: str  # "ssh-ed25519 AAAA... comment"
    host_key_private: str  # OpenSSH PEM of the ed25519 host key
    host_key_public: str  # "ssh-ed25519 AAAA..."
    instance_id: str
    extra_user_data: str = ""  # the user's own #cloud-config, merged (cloud images only)
    # files the image's seed step installs before its services start (machine-os only): the
    # engine's TLS files and settings, (path on the host, content, mode)
    files: tuple[tuple[str, bytes, int], ...] = ()


def user_data(seed: Seed) -> str:
    """#cloud-config for cloud-init (JSON is YAML: no YAML library, no quoting mistakes)."""
    config = {
        "hostname": seed.hostname,
        "preserve_hostname": False,
        # the host name resolves locally: sudo looks it up, and waits for DNS if it cannot
        "manage_etc_hosts": "localhost",
        "users": [
            "default",
            {
                "name": seed.user,
                # Named, not left to useradd: images with Docker preinstalled already have a
                # "docker" group, and useradd's own per-user group would then fail the user.
                # cloud-init creates groups that are missing.
                "primary_group": seed.user,
                "groups": ["sudo"],
                "shell": "/bin/bash",
                "sudo": "ALL=(ALL) NOPASSWD:ALL",
                "ssh_authorized_keys": [seed.authorized_key],
            },
        ],
        "ssh_keys": {
            "ed25519_private": seed.host_key_private,
            "ed25519_public": seed.host_key_public.strip() + "\n",
        },
        # with ssh_keys given, cloud-init generates none of its own
        "ssh_deletekeys": True,
    }
    return "#cloud-config\n" + json.dumps(config, indent=2) + "\n"


def meta_data(seed: Seed) -> str:
    return json.dumps({"instance-id": seed.instance_id, "local-hostname": seed.hostname}) + "\n"


def files(seed: Seed) -> dict[str, bytes]:
    """Every file of the seed, by its path inside the ISO."""
    out = {
        "user-data": user_data(seed).encode(),
        "meta-data": meta_data(seed).encode(),
        "machine/hostname": seed.hostname.encode() + b"\n",
        "machine/user": seed.user.encode() + b"\n",
        "machine/authorized_keys": seed.authorized_key.encode() + b"\n",
        "machine/ssh_host_ed25519_key": seed.host_key_private.encode(),
        "machine/ssh_host_ed25519_key.pub": seed.host_key_public.encode() + b"\n",
    }
    if seed.files:
        # machine/files.list: "MODE INDEX PATH" per line, the content in machine/files/INDEX
        # (the paths are the core's own constants: no spaces, nothing a user typed)
        listing = []
        for index, (path, data, mode) in enumerate(seed.files):
            if not path.startswith("/") or any(c.isspace() for c in path):
                raise ValueError(f"a seeded file needs an absolute path without spaces: {path!r}")
            listing.append(f"{mode:04o} {index} {path}\n")
            out[f"machine/files/{index}"] = data
        out["machine/files.list"] = "".join(listing).encode()
    if seed.extra_user_data:
        out["user-data"] = _multipart(out["user-data"], seed.extra_user_data.encode())
    return out


def _multipart(ours: bytes, theirs: bytes) -> bytes:
    """Both configs as a MIME multipart user-data, which cloud-init merges part by part."""
    boundary = "MACHINE-SEED-BOUNDARY"
    parts = []
    for body in (ours, theirs):
        kind = "text/cloud-config" if body.startswith(b"#cloud-config") else "text/x-shellscript"
        parts.append(f"--{boundary}\r\nContent-Type: {kind}; charset=utf-8\r\n\r\n".encode() + body)
    head = (
        f'Content-Type: multipart/mixed; boundary="{boundary}"\r\nMIME-Version: 1.0\r\n\r\n'
    ).encode()
    return head + b"\r\n".join(parts) + f"\r\n--{boundary}--\r\n".encode()


def iso(seed: Seed) -> bytes:
    """The seed as an ISO 9660 image with Rock Ridge and Joliet names, volume `cidata`."""
    import pycdlib

    image = pycdlib.PyCdlib()
    image.new(interchange_level=3, joliet=3, rock_ridge="1.09", vol_ident=VOLUME_LABEL)
    made: set[str] = set()
    for index, (path, data) in enumerate(sorted(files(seed).items())):
        parts = path.split("/")
        for depth in range(1, len(parts)):
            directory = "/".join(parts[:depth])
            if directory not in made:
                made.add(directory)
                iso_parent = "/".join(_iso_name(p, index, True) for p in parts[:depth])
                image.add_directory(
                    f"/{iso_parent}",
                    rr_name=parts[depth - 1],
                    joliet_path=f"/{directory}",
                )
        iso_dir = "/".join(_iso_name(p, index, is_dir=True) for p in parts[:-1])
        iso_path = (f"/{iso_dir}" if iso_dir else "") + f"/{_iso_name(parts[-1], index)}"
        image.add_fp(
            io.BytesIO(data), len(data), iso_path, rr_name=parts[-1], joliet_path=f"/{path}"
        )
    out = io.BytesIO()
    image.write_fp(out)
    image.close()
    return out.getvalue()


def guestinfo(seed: Seed) -> dict[str, str]:
    """The seed as VMware guestinfo keys (a VM's ExtraConfig, or an OVF environment): the
    #cloud-config and meta-data, base64 with their `.encoding` (vSphere passes values as
    they are, and the guest side reads them back with `vmware-rpctool`). machine-os's seed step
    and cloud-init's VMware data source read the same keys."""
    import base64

    def encoded(text: str) -> str:
        return base64.b64encode(text.encode()).decode()

    user = files(seed)["user-data"].decode()
    return {
        "guestinfo.metadata": encoded(meta_data(seed)),
        "guestinfo.metadata.encoding": "base64",
        "guestinfo.userdata": encoded(user),
        "guestinfo.userdata.encoding": "base64",
    }


def _iso_name(name: str, index: int, is_dir: bool = False) -> str:
    """A level-3 ISO 9660 name (upper case, [A-Z0-9_]); Rock Ridge keeps the real one."""
    base = "".join(c if c.isalnum() else "_" for c in name.upper())[:24] or f"F{index}"
    if is_dir:
        return base
    return f"{base}{index}.;1"
