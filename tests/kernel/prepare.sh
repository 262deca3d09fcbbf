#!/usr/bin/env bash
# Prepare what the guest-kernel tests boot: Debian's kernel (unpacked, depmod'ed) and a small
# busybox initramfs that mounts the host's root read-only over 9p under a tmpfs overlay.
# Cached: a second run with the same kernel version does nothing. Prints the cache dir.
# Usage: prepare.sh [CACHE_ROOT]   (default $CINDER_NB_KERNEL_CACHE or /var/cache/cinder_nb-kernel)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="${1:-${CINDER_NB_KERNEL_CACHE:-/var/cache/cinder_nb-kernel}}"
mkdir -p "$root"
exec 9>"$root/.lock"; flock 9          # two test runs preparing at once share one result

for tool in apt-get apt-cache dpkg-deb depmod modprobe; do
    command -v "$tool" >/dev/null || { echo "prepare.sh: $tool is missing" >&2; exit 2; }
done
busybox=$(command -v busybox || true)   # must be static: the initramfs has no libc
case "$( [ -n "$busybox" ] && LC_ALL=C ldd "$busybox" 2>&1 || true)" in
    *'not a dynamic executable'*) ;;
    *) echo "prepare.sh: a static busybox (apt package busybox-static) is missing" >&2; exit 2 ;;
esac

# the kernel package linux-image-amd64 points at today (fall back to the newest cached one offline)
pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/.*Depends: \(linux-image-[0-9].*-amd64\)$/\1/p' | head -1)
if [ -z "$pkg" ]; then
    pkg=$(ls -1d "$root"/linux-image-* 2>/dev/null | sort -V | tail -1 | xargs -r basename)
fi
[ -n "$pkg" ] || { echo "prepare.sh: cannot name the kernel package (apt-cache depends linux-image-amd64 gave nothing)" >&2; exit 2; }
version=${pkg#linux-image-}
dir="$root/$pkg"
if [ ! -e "$dir/.complete" ]; then
    rm -rf "$dir" "$dir.tmp"; mkdir -p "$dir.tmp"
    ( cd "$dir.tmp" && apt-get download -q "$pkg" >/dev/null )
    dpkg-deb -x "$dir.tmp"/*.deb "$dir.tmp/root"
    depmod -b "$dir.tmp/root" "$version"
    mv "$dir.tmp/root" "$dir.tmp/tree"; rm -f "$dir.tmp"/*.deb
    mv "$dir.tmp" "$dir"
    touch "$dir/.complete"
fi
kernel="$dir/tree/boot/vmlinuz-$version"
modules="$dir/tree/lib/modules/$version"
[ -e "$modules" ] || modules="$dir/tree/usr/lib/modules/$version"

# initramfs: rebuilt when init.sh or this script change
stamp=$(cat "$here/initramfs-init.sh" "$0" | sha256sum | cut -c1-16)
initrd="$dir/initramfs-$stamp.cpio.gz"
if [ ! -e "$initrd" ]; then
    work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
    mkdir -p "$work"/{bin,dev,proc,sys,mnt,newroot,modules}
    cp "$busybox" "$work/bin/busybox"
    base=$(dirname "$(dirname "$modules")")   # .../lib/modules -> tree/lib or tree/usr/lib
    for m in virtio_pci virtio_blk virtio_net 9pnet_virtio 9p overlay; do
        modprobe -d "$dir/tree" -S "$version" --show-depends "$m" | awk '$1=="insmod"{print $2}'
    done | awk '!seen[$0]++' > "$work/modules/order.tmp"
    : > "$work/modules/order"
    while read -r ko; do
        name=$(basename "$ko"); cp "$dir/tree/${ko#/}" "$work/modules/$name" 2>/dev/null || cp "$ko" "$work/modules/$name"
        echo "$name" >> "$work/modules/order"
    done < "$work/modules/order.tmp"
    rm "$work/modules/order.tmp"
    cp "$here/initramfs-init.sh" "$work/init"; chmod 755 "$work/init"
    ( cd "$work" && find . | "$busybox" cpio -o -H newc 2>/dev/null | gzip -1 ) > "$initrd.tmp"
    mv "$initrd.tmp" "$initrd"
fi
printf 'KERNEL=%s\nINITRD=%s\nMODULES=%s\nVERSION=%s\n' "$kernel" "$initrd" "$modules" "$version"
