#!/usr/bin/env bash
# Runs the TLS/kTLS engine tests under a Debian kernel that has the TLS ULP (CONFIG_TLS=m), booted
# in qemu/KVM, for machines whose own kernel lacks kTLS (where ktls_test.cpp skips its kernel
# path). Not part of `meson test`: it needs qemu-system-x86, busybox-static and cpio. It emulates
# the CPU (TCG, about a minute) unless QEMU_ACCEL=kvm (nested KVM may hang in early boot).
#
#   tests/engine/tls/ktls_vm.sh [TEST_BINARY] [doctest filter]
#     TEST_BINARY default: build/tests/engine/engine_tests; filter default: tls:*,ktls:*
#     KERNEL_DEB=path.deb to use a kernel package already downloaded (else `apt-get download`);
#     VM_TIMEOUT seconds (600); KEEP_DIR=dir keeps the initramfs and console.log there.
#
# The VM gets an initramfs holding busybox, tls.ko and the crypto modules, the test binary and the shared libraries it
# needs; it brings up lo, loads tls, runs the tests and powers off. Exit code: the tests'.
set -euo pipefail

root=$(cd "$(dirname "$0")/../../.." && pwd)
bin=$(realpath "${1:-$root/build/tests/engine/engine_tests}")
filter=${2:-tls:*,ktls:*}
for tool in qemu-system-x86_64 busybox cpio; do
    command -v "$tool" >/dev/null || { echo "ktls_vm.sh: needs $tool" >&2; exit 2; }
done

work=${KEEP_DIR:-$(mktemp -d)}
[[ -n "${KEEP_DIR:-}" ]] || trap 'rm -rf "$work"' EXIT
mkdir -p "$work"
cd "$work"
deb=${KERNEL_DEB:-}
if [[ -z "$deb" ]]; then
    pkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-/ {print $2; exit}')
    apt-get download "$pkg" >/dev/null 2>&1
    deb=$(ls "$work"/linux-image-*.deb)
fi
dpkg-deb -x "$deb" kernel
vmlinuz=$(ls kernel/boot/vmlinuz-*)
tls_ko=$(find kernel/lib/modules -name tls.ko | head -1)
[[ -n "$tls_ko" ]] || { echo "ktls_vm.sh: $deb has no tls.ko" >&2; exit 2; }

mkdir -p rootfs/{bin,sbin,proc,sys,dev,tmp}
cp "$(command -v busybox)" rootfs/bin/busybox
for applet in sh mount ip poweroff cat echo uname; do ln -s busybox "rootfs/bin/$applet"; done
# tls.ko and the crypto it asks for (gcm(aes), ...): the kernel loads those on demand through
# /sbin/modprobe when the first TLS_TX/TLS_RX is set, so that must exist with a modules.dep.
for applet in modprobe depmod; do ln -s ../bin/busybox "rootfs/sbin/$applet"; done
modules=$(dirname "$(dirname "$(dirname "$(dirname "$tls_ko")")")") # .../lib/modules/VERSION
for dir in kernel/net/tls kernel/crypto kernel/arch/x86/crypto kernel/lib/crypto; do
    [[ -d "$modules/$dir" ]] || continue
    mkdir -p "rootfs/lib/modules/$(basename "$modules")/$dir"
    cp -r "$modules/$dir/." "rootfs/lib/modules/$(basename "$modules")/$dir/"
done
cp "$bin" rootfs/tests
# The binary's shared libraries, at the paths the dynamic loader expects.
ldd "$bin" | grep -o '/[^ ]*' | while read -r lib; do
    mkdir -p "rootfs$(dirname "$lib")"
    cp -L "$lib" "rootfs$lib"
done
cat >rootfs/init <<EOF
#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
ip link set lo up
depmod
modprobe tls
echo "ktls_vm: kernel \$(cat /proc/sys/kernel/osrelease), tls_stat:"
cat /proc/net/tls_stat
KPERF_SOURCE_ROOT=/ /tests -tc='$filter'
echo "ktls_vm: status=\$?"
echo "ktls_vm: tls_stat after:"
cat /proc/net/tls_stat
poweroff -f
EOF
chmod +x rootfs/init
(cd rootfs && find . | cpio -o -H newc --quiet | gzip -1) >initrd.gz

timeout "${VM_TIMEOUT:-600}" qemu-system-x86_64 -accel "${QEMU_ACCEL:-tcg}" -cpu "${QEMU_CPU:-max}" -smp 2 -m 1024 -nographic -no-reboot \
    -kernel "$vmlinuz" -initrd initrd.gz -append "console=ttyS0 panic=-1" | tee console.log
status=$(grep -o 'ktls_vm: status=[0-9]*' console.log | tail -1 | cut -d= -f2)
[[ -n "$status" ]] || { echo "ktls_vm.sh: the VM did not report a test status" >&2; exit 1; }
exit "$status"
