#!/bin/sh
# mmdebstrap essential hook for machine-os (before the kernel is installed): the initrd holds
# only what finds and mounts the root file system on the hypervisors machine-os runs on, which
# keeps it small (it is unpacked on every boot, slowly under software emulation).
set -eu
root="$1"
mkdir -p "$root/etc/initramfs-tools/conf.d"
printf 'MODULES=list\nCOMPRESS=zstd\n' > "$root/etc/initramfs-tools/conf.d/machine-os.conf"
cat > "$root/etc/initramfs-tools/modules" <<'LIST'
# disk controllers: virtio (kvm), AHCI/PIIX (VirtualBox, QEMU), PVSCSI/LSI (VMware), NVMe, Hyper-V
virtio_pci
virtio_blk
virtio_scsi
ahci
ata_piix
ata_generic
sd_mod
vmw_pvscsi
mptspi
mptsas
nvme
hv_storvsc
ext4
LIST
