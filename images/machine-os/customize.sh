#!/bin/sh
# mmdebstrap customize hook for machine-os: $1 is the root file system being built.
# Boots to a reachable sshd as fast as possible: networkd for DHCP, and a seed step that
# applies the seed (NoCloud ISO or VMware guestinfo) before sshd starts. The disk layout and
# the boot loader are the build's (machine/images/osimage.py), as is /etc/fstab.
set -eu
root="$1"
here="$(dirname "$0")"

# kernel modules a server VM never loads: a smaller image, a faster depmod
for dir in sound drivers/media drivers/gpu/drm/amd drivers/gpu/drm/radeon drivers/gpu/drm/nouveau \
           drivers/gpu/drm/i915 drivers/net/wireless net/wireless net/mac80211 drivers/bluetooth \
           net/bluetooth drivers/infiniband drivers/staging drivers/iio drivers/isdn; do
    rm -rf "$root"/lib/modules/*/kernel/$dir
done
# no VM has a floppy drive worth probing (QEMU's emulated one fails every read at boot)
echo 'blacklist floppy' > "$root/etc/modprobe.d/machine-os.conf"
for kernel in "$root"/lib/modules/*; do
    chroot "$root" depmod -a "$(basename "$kernel")"
done

# DHCP on every wired interface, with systemd-networkd
mkdir -p "$root/etc/systemd/network"
printf '[Match]\nName=en* eth*\n\n[Network]\nDHCP=yes\n\n[DHCPv4]\nClientIdentifier=mac\n' \
    > "$root/etc/systemd/network/10-wired.network"
chroot "$root" systemctl enable systemd-networkd.service >/dev/null 2>&1

# the seed step
install -m 0755 "$here/machine-seed" "$root/usr/local/sbin/machine-seed"
install -m 0644 "$here/machine-seed.service" "$root/etc/systemd/system/machine-seed.service"
chroot "$root" systemctl enable machine-seed.service >/dev/null 2>&1
# growing the file system to the disk's size takes long under emulation: once the engine is
# up, not before sshd or the engine (machine-growfs.service)
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
# containerd needs no network to start, and the engine waits for it: started beside the seed
# step rather than after the network is up, it is ready when the engine's turn comes. A copy
# of the packaged unit without that ordering (After= cannot be taken away by a drop-in).
sed '/^After=/s/ *network\.target//' "$root/lib/systemd/system/containerd.service" \
    > "$root/etc/systemd/system/containerd.service"
if grep -q '^After=.*network' "$root/etc/systemd/system/containerd.service"; then
    echo "customize.sh: containerd.service still waits for the network" >&2
    exit 1
fi

# AppArmor stays on for the engine (dockerd loads its own docker-default profile), but the
# profiles Debian ships for programs machine-os lacks (lsb_release, nvidia-modprobe) would be
# compiled at every first boot, before sysinit.target: seconds under software emulation
rm -f "$root/etc/apparmor.d/lsb_release" "$root/etc/apparmor.d/nvidia_modprobe"
# generators for what machine-os never has (encrypted, integrity or verity volumes, hibernation,
# SysV init scripts, rc.local, GPT auto-mounts, offline updates): each one is run at boot and at
# every daemon-reload, and each start of a program is slow under emulation
mkdir -p "$root/etc/systemd/system-generators"
for generator in cryptsetup integritysetup veritysetup hibernate-resume gpt-auto sysv \
                 rc-local system-update; do
    ln -sf /dev/null "$root/etc/systemd/system-generators/systemd-$generator-generator"
done
echo 'VARIANT_ID=machine-os' >> "$root/etc/os-release"
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
