#!/bin/sh
# mmdebstrap --customize-hook: turn the chroot "$1" into a bootable test guest.
set -eu
root="$1"
here=$(dirname "$0")

echo lvmove-vm > "$root/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 lvmove-vm\n' > "$root/etc/hosts"
printf 'LABEL=vmroot / ext4 rw,errors=remount-ro 0 1\n' > "$root/etc/fstab"
chroot "$root" passwd -d root

# Persistent journal, synced often so the boot after a SIGKILL can read the crashed one.
mkdir -p "$root/var/log/journal" "$root/etc/systemd/journald.conf.d"
printf '[Journal]\nStorage=persistent\nSyncIntervalSec=2s\n' > "$root/etc/systemd/journald.conf.d/lvmove-vm.conf"

# The scenario runner: mounts the 9p share and runs the script named on the kernel command line.
install -m 0755 "$here/vm-runner" "$root/usr/local/sbin/vm-runner"
install -m 0644 "$here/vm-runner.service" "$root/etc/systemd/system/vm-runner.service"
ln -sf /etc/systemd/system/vm-runner.service "$root/etc/systemd/system/multi-user.target.wants/vm-runner.service"

# Small queues on the PV disks so LVM metadata I/O does not wait behind a throttled copy.
install -m 0644 "$here/90-vm-pv-queue.rules" "$root/etc/udev/rules.d/90-vm-pv-queue.rules"

# No getty on the serial console: it carries kernel messages and the runner's markers only.
ln -sf /dev/null "$root/etc/systemd/system/serial-getty@ttyS0.service"
ln -sf /dev/null "$root/etc/systemd/system/getty@tty1.service"
# Nothing that would touch the network or time out at boot.
ln -sf /dev/null "$root/etc/systemd/system/systemd-networkd-wait-online.service"
ln -sf /dev/null "$root/etc/systemd/system/apt-daily.timer"
ln -sf /dev/null "$root/etc/systemd/system/apt-daily-upgrade.timer"
ln -sf /dev/null "$root/etc/systemd/system/e2scrub_all.timer"
ln -sf /dev/null "$root/etc/systemd/system/fstrim.timer"

# Initramfs: only what the root disk needs. virtio_scsi stays out, so PVs on virtio-scsi appear only
# after switch-root, while PVs on virtio-blk are seen (and their VG activated) in the initramfs.
sed -i 's/^MODULES=.*/MODULES=list/' "$root/etc/initramfs-tools/initramfs.conf"
printf 'virtio_pci\nvirtio_blk\next4\ncrc32c_generic\n' >> "$root/etc/initramfs-tools/modules"
chroot "$root" update-initramfs -u -k all
