#!/bin/busybox sh
# First stage (PID 1 in the initramfs): mount the host's / read-only over 9p, lay a tmpfs
# overlay on top, switch_root into it and run the second stage named by cnb.init= on the
# kernel command line (a script of the project, seen through the host's root).
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in $(cat /modules/order); do insmod /modules/$m 2>/dev/null; done
stage2=
for arg in $(cat /proc/cmdline); do
    case "$arg" in cnb.init=*) stage2=${arg#cnb.init=} ;; esac
done
mkdir -p /lower /rw
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,cache=loose,ro hostroot /lower || { echo "cnb: 9p mount failed"; poweroff -f; }
mount -t tmpfs -o size=256m tmpfs /rw
mkdir -p /rw/upper /rw/work
mount -t overlay overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work /newroot || { echo "cnb: overlay failed"; poweroff -f; }
mkdir -p /newroot/cnb-lower /newroot/cnb-rw
mount --move /lower /newroot/cnb-lower
mount --move /rw /newroot/cnb-rw
mount --move /dev /newroot/dev
umount /proc /sys
[ -n "$stage2" ] || { echo "cnb: no cnb.init= on the command line"; exec sh; }
exec switch_root /newroot /bin/sh "$stage2"
