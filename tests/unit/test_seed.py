"""The NoCloud seed: cloud-init's files and machine-os's plain ones, in an ISO named cidata."""

from __future__ import annotations

import io
import json

import pycdlib
import pytest

from machine import seed
from machine.tls import certs

LOGIN = certs.ssh_keypair()[1]
HOST_PRIVATE, HOST_PUBLIC = certs.ssh_keypair()
SEED = seed.Seed("dev", "docker", LOGIN, HOST_PRIVATE.decode(), HOST_PUBLIC, "iid-dev-1")


def test_user_data_is_cloud_config() -> None:
    text = seed.user_data(SEED)
    assert text.startswith("#cloud-config\n")
    config = json.loads(text.split("\n", 1)[1])  # JSON is YAML
    assert config["hostname"] == "dev"
    assert config["users"][1]["ssh_authorized_keys"] == [LOGIN]
    assert config["ssh_keys"]["ed25519_public"] == HOST_PUBLIC + "\n"  # a whole line in the .pub
    assert json.loads(seed.meta_data(SEED)) == {"instance-id": "iid-dev-1", "local-hostname": "dev"}


def test_iso_has_the_label_and_real_names() -> None:
    data = seed.iso(SEED)
    iso = pycdlib.PyCdlib()
    iso.open_fp(io.BytesIO(data))
    try:
        assert iso.pvd.volume_identifier.rstrip(b" ") == b"cidata"
        names = {}
        for path in seed.files(SEED):
            out = io.BytesIO()
            iso.get_file_from_iso_fp(out, rr_path=f"/{path}")
            names[path] = out.getvalue()
    finally:
        iso.close()
    assert names["machine/hostname"] == b"dev\n"
    assert names["machine/ssh_host_ed25519_key"] == HOST_PRIVATE
    assert names["user-data"].startswith(b"#cloud-config")


def test_users_own_user_data_is_merged() -> None:
    mine = seed.Seed(**{**SEED.__dict__, "extra_user_data": "#cloud-config\npackages: [htop]\n"})
    text = seed.files(mine)["user-data"]
    assert b"multipart/mixed" in text and b"packages: [htop]" in text and b"#cloud-config" in text


def test_guestinfo_carries_the_same_seed_in_base64() -> None:
    import base64

    keys = seed.guestinfo(SEED)
    assert keys["guestinfo.userdata.encoding"] == keys["guestinfo.metadata.encoding"] == "base64"
    assert base64.b64decode(keys["guestinfo.userdata"]).decode() == seed.user_data(SEED)
    assert base64.b64decode(keys["guestinfo.metadata"]).decode() == seed.meta_data(SEED)
    # values go into a VM's ExtraConfig and through vcsim's `sh -c`: base64 only
    assert all(v.replace("+", "").replace("/", "").rstrip("=").isalnum() for v in keys.values())


def test_files_for_the_seed_step_are_listed_with_their_modes() -> None:
    files = (("/etc/docker/server-key.pem", b"KEY", 0o600), ("/etc/docker/ca.pem", b"CA", 0o644))
    seeded = seed.Seed("dev", "docker", LOGIN, HOST_PRIVATE.decode(), HOST_PUBLIC, "i", files=files)
    out = seed.files(seeded)
    assert out["machine/files.list"] == (
        b"0600 0 /etc/docker/server-key.pem\n0644 1 /etc/docker/ca.pem\n"
    )
    assert out["machine/files/0"] == b"KEY" and out["machine/files/1"] == b"CA"
    iso = pycdlib.PyCdlib()
    iso.open_fp(io.BytesIO(seed.iso(seeded)))
    try:
        got = io.BytesIO()
        iso.get_file_from_iso_fp(got, rr_path="/machine/files/0")
    finally:
        iso.close()
    assert got.getvalue() == b"KEY"
    assert "machine/files.list" not in seed.files(SEED)  # nothing to install: no list


def test_a_seeded_path_the_seed_step_could_misread_is_refused() -> None:
    for path in ("etc/docker/ca.pem", "/etc/my docker/ca.pem", "/etc/docker/ca.pem\n/x"):
        bad = seed.Seed("d", "docker", LOGIN, "", "", "i", files=((path, b"", 0o644),))
        with pytest.raises(ValueError):
            seed.files(bad)
