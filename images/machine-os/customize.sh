#!/bin/sh
# mmdebstrap customize hook for machine-os: $1 is the root file system being built.
# Boots to a reachable sshd as fast as possible: no bootloader (the kernel is booted directly),
# networkd for DHCP, and a seed step that applies the NoCloud seed before sshd starts.
set -eu
root="$1"
here="$(dirname "$0")"

# the root file system is the whole disk (no partition table): /dev/vda
echo "/dev/vda / ext4 defaults,noatime 0 1" > "$root/etc/fstab"

# DHCP on every wired interface, with systemd-networkd
mkdir -p "$root/etc/systemd/network"
printf '[Match]\nName=en* eth*\n\n[Network]\nDHCP=yes\n\n[DHCPv4]\nClientIdentifier=mac\n' \
    > "$root/etc/systemd/network/10-wired.network"
chroot "$root" systemctl enable systemd-networkd.service >/dev/null 2>&1

# the seed step
install -m 0755 "$here/machine-seed" "$root/usr/local/sbin/machine-seed"
install -m 0644 "$here/machine-seed.service" "$root/etc/systemd/system/machine-seed.service"
chroot "$root" systemctl enable machine-seed.service >/dev/null 2>&1
# growing the file system to the disk's size takes long under emulation: beside the boot,
# not before sshd
install -m 0644 "$here/machine-growfs.service" "$root/etc/systemd/system/machine-growfs.service"
chroot "$root" systemctl enable machine-growfs.service >/dev/null 2>&1

# the login user, as docker-machine's images had it: docker, passwordless sudo, docker group
chroot "$root" useradd -m -s /bin/bash -g docker -G sudo docker
echo 'docker ALL=(ALL) NOPASSWD:ALL' > "$root/etc/sudoers.d/docker"
chmod 0440 "$root/etc/sudoers.d/docker"

# host keys come from the seed (or are made at first boot): none are shared between machines
rm -f "$root"/etc/ssh/ssh_host_*

# nothing that slows the first boot or wakes up later for nothing
for unit in apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer e2scrub_reap.service \
            systemd-networkd-wait-online.service; do
    chroot "$root" systemctl disable "$unit" >/dev/null 2>&1 || true
done
echo 'VARIANT_ID=machine-os' >> "$root/etc/os-release"
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
