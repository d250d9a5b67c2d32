#!/bin/sh
# mmdebstrap essential hook for machine-os (before the kernel is installed): the initrd holds
# only what finds and mounts the root file system on the hypervisors machine-os runs on, which
# keeps it small (it is unpacked on every boot, slowly under software emulation).
set -eu
root="$1"
mkdir -p "$root/etc/initramfs-tools/conf.d" "$root/etc/initramfs-tools/hooks"
printf 'MODULES=list\nCOMPRESS=zstd\n' > "$root/etc/initramfs-tools/conf.d/machine-os.conf"
# The disk drivers are in the initrd, but only the file system's module is loaded by name:
# udev in the initrd loads the driver of the controller the VM has (by its modalias), where
# loading every listed one would probe controllers that are not there (seconds under emulation).
printf '# loaded at every boot (the disk drivers: hooks/machine-os)\next4\n' \
    > "$root/etc/initramfs-tools/modules"
cat > "$root/etc/initramfs-tools/hooks/machine-os" <<'HOOK'
#!/bin/sh
# disk controllers: virtio (kvm), AHCI/PIIX (VirtualBox, QEMU), PVSCSI/LSI (VMware), NVMe,
# Hyper-V; each is loaded by udev only when its controller is present
case "${1:-}" in prereqs) exit 0 ;; esac
. /usr/share/initramfs-tools/hook-functions
manual_add_modules virtio_pci virtio_blk virtio_scsi ahci ata_piix ata_generic sd_mod \
    vmw_pvscsi mptspi mptsas nvme hv_storvsc
HOOK
chmod 0755 "$root/etc/initramfs-tools/hooks/machine-os"
