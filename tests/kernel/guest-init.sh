#!/bin/sh
# Second stage in the guest (PID 1 after switch_root; the root is the host's / read-only
# under a tmpfs overlay). Mounts the pseudo filesystems, the kernel's modules and the
# read-write transfer directory, starts udevd, iscsid and tgtd, then runs the command agent.
# When the agent exits (the host asked for poweroff, or it failed) the guest powers off.
exec > /dev/console 2>&1
mount -t proc proc /proc
mount -t sysfs sysfs /sys
for arg in $(cat /proc/cmdline); do
    case "$arg" in
        cnb.modules=*) CNB_MODULES=${arg#*=} ;;
        cnb.python=*) CNB_PYTHON=${arg#*=} ;;
        cnb.agent=*) CNB_AGENT=${arg#*=} ;;
        cnb.port=*) CNB_PORT=${arg#*=} ;;
    esac
done
version=$(uname -r)
for d in /run /tmp /mnt /var/tmp /var/log; do mount -t tmpfs tmpfs "$d"; done
mkdir -p /dev/pts /dev/shm /run/lock
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
[ -e /dev/fd ] || ln -s /proc/self/fd /dev/fd
[ -e /dev/stdin ] || { ln -s /proc/self/fd/0 /dev/stdin; ln -s /proc/self/fd/1 /dev/stdout; ln -s /proc/self/fd/2 /dev/stderr; }
mkdir -p "/usr/lib/modules/$version" && mount --bind "$CNB_MODULES" "/usr/lib/modules/$version"
mkdir -p /etc/target /xfer && mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 xfer /xfer
hostname cnb-guest
ip link set lo up
ip addr add 10.0.2.15/24 dev eth0 && ip link set eth0 up
for m in dm_mod dm_thin_pool dm_snapshot loop iscsi_tcp target_core_mod iscsi_target_mod \
         target_core_iblock target_core_user veth; do
    modprobe "$m" || echo "cnb: modprobe $m failed"
done
mount -t configfs configfs /sys/kernel/config
/lib/systemd/systemd-udevd --daemon
udevadm trigger --subsystem-match=block --action=add
# open-iscsi: this guest's own initiator name and no node records inherited from the host
rm -rf /etc/iscsi/nodes /etc/iscsi/send_targets /etc/iscsi/ifaces
mkdir -p /etc/iscsi /etc/target /run/lock/iscsi
echo "InitiatorName=iqn.2026-11.org.cinder-nb:guest" > /etc/iscsi/initiatorname.iscsi
iscsid
echo "cnb: daemons up after $(cut -d' ' -f1 /proc/uptime) s"
export PATH="$(dirname "$CNB_PYTHON"):/usr/sbin:/usr/bin:/sbin:/bin" HOME=/root OSLO_LOCK_PATH=/tmp/locks
# Every Python in the guest (pytest, notebook kernels, os-brick helpers) goes without jsonschema's
# optional rfc3987_syntax: its import builds ~30 Lark parsers, minutes under emulation (see
# guest_plugin.py). The file lands in the tmpfs overlay: the host's venv is not touched.
for site in "$(dirname "$CNB_PYTHON")"/../lib/python3*/site-packages; do
    echo "import sys; sys.modules.setdefault('rfc3987_syntax', None)" > "$site/zz_cnb_guest.pth"
done
mkdir -p /tmp/locks
echo "cnb: guest ready after $(cut -d' ' -f1 /proc/uptime) s"
"$CNB_PYTHON" -S "$CNB_AGENT" --bind 10.0.2.15 --port "${CNB_PORT:-7000}" --token-file /xfer/token
echo "cnb: agent exited ($?); powering off"
sync
poweroff -f
