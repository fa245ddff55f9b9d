#!/bin/busybox sh
# pivirt initramfs /init: load the virtual machine's drivers, find the root filesystem the way
# the kernel command line names it, and switch to it.
/bin/busybox --install -s /bin
export PATH=/bin
mkdir -p /proc /sys /dev /newroot
mount -t proc proc /proc
mount -t sysfs sysfs /sys
# The kernel does not mount devtmpfs by itself when it starts from an initramfs.
mount -t devtmpfs devtmpfs /dev

say() { echo "pivirt-initramfs: $*"; }
root= ; rootfstype= ; rootflags= ; mode=ro ; init=/sbin/init ; wait=30
for w in $(cat /proc/cmdline); do
    case "$w" in
        root=*) root=${w#root=} ;;
        rootfstype=*) rootfstype=${w#rootfstype=} ;;
        rootflags=*) rootflags=${w#rootflags=} ;;
        rootdelay=*) wait=${w#rootdelay=} ;;
        init=*) init=${w#init=} ;;
        rw) mode=rw ;;
        ro) mode=ro ;;
    esac
done

say "loading $(wc -l < /etc/pivirt/modules) modules for $(uname -r)"
# insmod, unlike modprobe, does not read MODULE.PARAM=VALUE from the kernel command line:
# pass those on by hand (e.g. virtio_net.napi_tx=0).
while read -r m; do
    name=$(echo "${m%.ko}" | tr - _)
    params=
    for w in $(cat /proc/cmdline); do
        case "$(echo "${w%%=*}" | tr - _)" in "$name".*) params="$params ${w#*.}" ;; esac
    done
    insmod "/lib/modules/$m" $params 2>/dev/null || say "insmod $m$params failed"
done < /etc/pivirt/modules

# MBR disk identifier (bytes 440..443, little endian) as 8 hex digits.
mbr_id() { od -A n -t x4 -j 440 -N 4 "$1" 2>/dev/null | tr -d ' \n'; }
# GPT unique GUID of partition $2 on disk $1, in Linux's mixed-endian text form.
gpt_uuid() {
    lba=$(od -A n -t u4 -j 584 -N 4 "$1" | tr -d ' ')
    esz=$(od -A n -t u4 -j 596 -N 4 "$1" | tr -d ' ')
    set -- $(od -A n -t x1 -j $((lba * 512 + ($2 - 1) * esz + 16)) -N 16 "$1")
    echo "$4$3$2$1-$6$5-$8$7-$9${10}-${11}${12}${13}${14}${15}${16}"
}
is_gpt() { [ "$(dd if="$1" bs=1 skip=512 count=8 2>/dev/null)" = "EFI PART" ]; }

# Print /dev/NAME for the root, or nothing yet.
find_root() {
    case "$root" in
        PARTUUID=*)
            want=$(echo "${root#PARTUUID=}" | tr 'A-F' 'a-f')
            for p in /sys/class/block/*; do
                [ -f "$p/partition" ] || continue
                n=$(cat "$p/partition")
                disk=/dev/$(basename "$(dirname "$(readlink -f "$p")")")
                if is_gpt "$disk"; then
                    have=$(gpt_uuid "$disk" "$n")
                else
                    have=$(mbr_id "$disk")-$(printf %02x "$n")
                fi
                [ "$have" = "$want" ] && { echo "/dev/${p##*/}"; return; }
            done ;;
        UUID=*|LABEL=*) findfs "$root" 2>/dev/null ;;
        /dev/mmcblk0p*)
            # A Pi device name: the same partition number on the first virtual disk.
            n=${root#/dev/mmcblk0p}
            for d in vda sda mmcblk0; do
                [ -b "/dev/$d" ] && { [ "$d" = mmcblk0 ] && echo "/dev/${d}p$n" || echo "/dev/$d$n"; return; }
            done ;;
        /dev/*) [ -b "$root" ] && echo "$root" ;;
    esac
}

dev=
i=0
while [ $i -lt $((wait * 5)) ]; do
    dev=$(find_root)
    [ -n "$dev" ] && [ -b "$dev" ] && break
    dev=
    i=$((i + 1))
    usleep 200000
done
if [ -z "$dev" ]; then
    say "root $root not found; block devices: $(ls /sys/class/block | tr '\n' ' ')"
    exec sh
fi
say "root $root is $dev"
opts=$mode
[ -n "$rootflags" ] && opts="$opts,$rootflags"
if ! mount ${rootfstype:+-t $rootfstype} -o "$opts" "$dev" /newroot; then
    say "cannot mount $dev"
    exec sh
fi
# First boot after conversion: let the guest's own depmod index the installed modules.
v=$(uname -r)
for md in /newroot/lib/modules/$v /newroot/usr/lib/modules/$v; do
    if [ -d "$md" ] && [ ! -e "$md/modules.dep.bin" ] && [ -x /newroot/sbin/depmod ]; then
        mount -o remount,rw /newroot && chroot /newroot /sbin/depmod -a "$v" && say "depmod -a $v done"
        [ "$mode" = ro ] && mount -o remount,ro /newroot
        break
    fi
done
mount --move /dev /newroot/dev 2>/dev/null || umount /dev
umount /sys
umount /proc
exec switch_root /newroot "$init"
