#!/bin/sh
# /sbin/init of pivirt's busybox test image: report what the guest sees on the serial console,
# optionally receive or send TCP transfers, then power off.
export PATH=/bin:/sbin
mount -t proc proc /proc 2>/dev/null
mount -t sysfs sysfs /sys 2>/dev/null
mount -t devtmpfs devtmpfs /dev 2>/dev/null
echo "PIVIRT-BOOTED"
echo "PIVIRT-KERNEL $(uname -r) $(uname -m)"
echo "PIVIRT-ROOT $(grep ' / ' /proc/mounts | head -n 1)"
echo "PIVIRT-MODULES $(cut -d ' ' -f 1 /proc/modules | tr '\n' ' ')"
echo "PIVIRT-BLOCK $(ls /sys/class/block | tr '\n' ' ')"
echo "PIVIRT-FSTAB $(grep -v '^#' /etc/fstab | tr '\n' '|')"
echo "PIVIRT-PRELOAD $(tr '\n' '|' < /etc/ld.so.preload)"
echo "PIVIRT-MODDIR $(ls /lib/modules | tr '\n' ' ')"
echo "PIVIRT-DF $(df -k / | grep -v Filesystem)"
echo "PIVIRT-NAPI-TX $(cat /sys/module/virtio_net/parameters/napi_tx 2>/dev/null)"
sink=0
send=
for w in $(cat /proc/cmdline); do
    case "$w" in
        pivirt.sink=*) sink=${w#pivirt.sink=} ;;
        pivirt.send=*) send=${w#pivirt.send=} ;;
        # pivirt.modprobe=NAME: load a driver from the root filesystem's /lib/modules the way
        # the running system would (modules.dep, dependencies first, compressed .ko.xz).
        pivirt.modprobe=*)
            m=${w#pivirt.modprobe=}
            modprobe "$m"
            echo "PIVIRT-MODPROBE $m $? $(cut -d ' ' -f 1 /proc/modules | tr '\n' ' ')" ;;
    esac
done
net_up() {
    i=0
    while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 300 ]; do usleep 100000; i=$((i + 1)); done
    ip link set lo up
    ip link set eth0 up
    ip addr add 10.0.2.15/24 dev eth0
    ip route add default via 10.0.2.2
    echo "PIVIRT-NET-UP $(cat /sys/class/net/eth0/address 2>/dev/null)"
}
if [ "$sink" -gt 0 ]; then
    net_up
    n=0
    while [ $n -lt "$sink" ]; do
        echo "PIVIRT-LISTENING"
        got=$(nc -l -p 5001 | wc -c)
        echo "PIVIRT-RECEIVED $got"
        n=$((n + 1))
    done
fi
# pivirt.send=PORT:COUNT: connect COUNT times to the host's PORT (user-mode networking's
# 10.0.2.2 is the host) and stream zeros until the host, having counted what it wants, closes.
# dd writes 64 KiB at a time straight into the socket (nc's own copy loop writes 1 KiB).
if [ -n "$send" ]; then
    net_up
    port=${send%%:*}
    count=${send#*:}
    n=0
    while [ $n -lt "$count" ]; do
        echo "PIVIRT-SENDING $n"
        nc 10.0.2.2 "$port" -e dd if=/dev/zero bs=65536 2>/dev/null
        n=$((n + 1))
    done
fi
echo "PIVIRT-DONE"
sync
poweroff -f
