// Stage 1 of a disk boot: a tiny initramfs (busybox, the board's module closure, this script)
// that loads the storage and filesystem drivers, finds the boot disk by its identifier, mounts
// the read-only squashfs root under a tmpfs overlay, mounts the data partition, and switches
// root to the appliance's init. Failures print the init's framed `stage=fail` marker so the
// harness attributes them at once.
//
// Kernel command line it reads (written by the disk assembler):
//   ingot.disk=mbr:<8 hex>|gpt:<32 hex>  raw bytes of the MBR signature (offset 440) or of the
//                                         GPT disk GUID (offset 568), as they are on disk
//   ingot.root=<partition number>  ingot.data=<partition number>  ingot.datamount=<path>
// In ISO mode (`RootSource.iso`, written by the ISO assembler) it reads instead:
//   ingot.iso=<volume id>  the ISO 9660 volume id (offset 32808) of the CD, USB stick or disk
//                          holding the image; the root is a squashfs file on that volume

import Foundation

public struct Stage1Plan: Sendable, Equatable {
    /// insmod paths, dependencies first.
    public var modules: [String]
    /// Seconds to wait for the boot disk to appear.
    public var diskWaitSeconds: Int
    /// Where the root comes from: a partition of the boot disk (default) or a file on an ISO.
    public var source: RootSource

    /// Where stage 1 finds the squashfs root.
    public enum RootSource: Sendable, Equatable {
        /// A partition of the disk named by `ingot.disk=` / `ingot.root=`.
        case disk
        /// The file at `rootFile` (absolute, inside the volume) on the ISO 9660 volume whose
        /// volume id is `ingot.iso=`; mounted through a loop device. There is no data partition.
        case iso(rootFile: String)
    }

    public init(modules: [String], diskWaitSeconds: Int = 20, source: RootSource = .disk) {
        self.modules = modules
        self.diskWaitSeconds = diskWaitSeconds
        self.source = source
    }

    public func renderScript() -> String {
        var s = """
            #!/bin/busybox sh
            # Ingot stage 1: find the root partition, mount it read-only with a tmpfs overlay, switch root.
            bb=/bin/busybox
            export PATH=/bin
            $bb mkdir -p /proc /sys /dev /lower /upper /newroot
            $bb mount -t proc proc /proc
            $bb mount -t sysfs sysfs /sys
            $bb mount -t devtmpfs devtmpfs /dev
            exec </dev/console >/dev/console 2>&1

            fail() {
              payload="v1 stage=fail seq=0 reason=$1"
              crc=$(printf '%s' "$payload" | $bb crc32)
              echo "ingot-stage1: $2"
              echo "@@INGOT $payload $crc@@"
              while :; do $bb sleep 3600; done
            }

            """
        for ko in modules {
            let name = ModuleClosure.moduleName(ofPath: ko)
            s += "[ -d /sys/module/\(name) ] || $bb insmod \(InitPlan.quote(ko)) || echo \(InitPlan.quote("ingot-stage1: loading \(ko) failed"))\n"
        }
        if case .iso(let rootFile) = source { return s + renderISOBody(rootFile: rootFile) }
        s += """

            disk=; rootn=; datan=; datamount=
            for w in $($bb cat /proc/cmdline); do
              case "$w" in
                ingot.disk=*) disk=${w#ingot.disk=} ;;
                ingot.root=*) rootn=${w#ingot.root=} ;;
                ingot.data=*) datan=${w#ingot.data=} ;;
                ingot.datamount=*) datamount=${w#ingot.datamount=} ;;
              esac
            done
            [ -n "$disk" ] && [ -n "$rootn" ] || fail bad-cmdline "the kernel command line lacks ingot.disk= or ingot.root="

            # The disk whose on-disk identifier matches (the kernel names disks by bus order).
            want=${disk#*:}
            dev=
            tries=0
            while [ -z "$dev" ] && [ $tries -lt \(diskWaitSeconds * 10) ]; do
              for d in /sys/block/*; do
                n=${d##*/}
                case "$n" in loop*|ram*|zram*) continue ;; esac
                [ -b "/dev/$n" ] || continue
                case "$disk" in
                  mbr:*) got=$($bb hexdump -s 440 -n 4 -e '4/1 "%02x"' "/dev/$n" 2>/dev/null) ;;
                  gpt:*) got=$($bb hexdump -s 568 -n 16 -e '16/1 "%02x"' "/dev/$n" 2>/dev/null) ;;
                  *) fail bad-cmdline "unknown ingot.disk=$disk" ;;
                esac
                if [ "$got" = "$want" ]; then dev=$n; break; fi
              done
              if [ -z "$dev" ]; then $bb usleep 100000; tries=$((tries + 1)); fi
            done
            [ -n "$dev" ] || fail root-not-found "no disk with identifier $disk appeared; is the storage driver in the board's initramfsModules?"

            part() {
              for p in /sys/block/$dev/*/partition; do
                [ -e "$p" ] || continue
                if [ "$($bb cat "$p")" = "$1" ]; then p=${p%/partition}; echo "${p##*/}"; return 0; fi
              done
              return 1
            }
            rootdev=$(part "$rootn") || fail root-not-found "partition $rootn is missing on /dev/$dev"
            $bb mount -t squashfs -o ro "/dev/$rootdev" /lower || fail root-mount "cannot mount the squashfs root /dev/$rootdev"
            $bb mount -t tmpfs -o mode=0755 tmpfs /upper
            $bb mkdir -p /upper/rw /upper/work
            $bb mount -t overlay overlay -o lowerdir=/lower,upperdir=/upper/rw,workdir=/upper/work /newroot \\
              || fail root-mount "cannot mount the overlay over /dev/$rootdev"
            if [ -n "$datan" ] && [ -n "$datamount" ]; then
              if datadev=$(part "$datan"); then
                $bb mkdir -p "/newroot$datamount"
                $bb mount -t ext4 -o rw,noatime "/dev/$datadev" "/newroot$datamount" \\
                  || echo "ingot-stage1: data partition /dev/$datadev not mounted; state stays in RAM"
              else
                echo "ingot-stage1: data partition $datan missing on /dev/$dev; state stays in RAM"
              fi
            fi
            echo "ingot-stage1: root /dev/$rootdev (squashfs, read-only) under a tmpfs overlay"
            $bb mkdir -p /newroot/dev
            $bb mount --move /dev /newroot/dev
            $bb umount /proc /sys
            exec $bb switch_root /newroot /sbin/init

            """
        return s
    }

    /// Builds the stage-1 tree: `busybox` (the target's), the modules from `kernelTree`, /init.
    public func tree(busybox: Content, kernelTree: FileTree, spool: ContentSpool, mtime: Int64) throws -> FileTree {
        let t = try FileTree(spool: spool)
        try t.insert(Node(kind: .file(busybox), permissions: 0o755, mtime: mtime), at: "/bin/busybox")
        for ko in modules {
            guard let node = kernelTree.lookup(ko), let c = node.content else { throw FileTree.Error.notFound(ko) }
            try t.insert(Node(kind: .file(c), permissions: 0o644, mtime: mtime), at: ko)
        }
        try t.addFile("/init", text: renderScript(), permissions: 0o755, mtime: mtime)
        try t.insert(Node(kind: .characterDevice(major: 5, minor: 1), permissions: 0o600, mtime: mtime), at: "/dev/console")
        try t.addDirectory("/proc", mtime: mtime)
        try t.addDirectory("/sys", mtime: mtime)
        t.clampTimes(to: mtime)
        return t
    }
}

extension Stage1Plan {
    /// The ISO part of the script: find the volume by its ISO 9660 volume id on any whole block
    /// device (sr*, sd*, vd*: a hybrid ISO written to a stick has the same descriptor at 32 KiB),
    /// mount it, loop-mount the squashfs file from it, overlay, switch root.
    func renderISOBody(rootFile: String) -> String {
        let file = InitPlan.quote("/iso" + rootFile)
        return """

            iso=
            for w in $($bb cat /proc/cmdline); do
              case "$w" in
                ingot.iso=*) iso=${w#ingot.iso=} ;;
              esac
            done
            [ -n "$iso" ] || fail bad-cmdline "the kernel command line lacks ingot.iso="

            # The device whose ISO 9660 primary volume descriptor carries that volume id.
            dev=
            tries=0
            while [ -z "$dev" ] && [ $tries -lt \(diskWaitSeconds * 10) ]; do
              for d in /sys/block/*; do
                n=${d##*/}
                case "$n" in loop*|ram*|zram*) continue ;; esac
                [ -b "/dev/$n" ] || continue
                got=$($bb hexdump -s 32808 -n 32 -e '32/1 "%_p"' "/dev/$n" 2>/dev/null)
                got=${got%% *}
                if [ "$got" = "$iso" ]; then dev=$n; break; fi
              done
              if [ -z "$dev" ]; then $bb usleep 100000; tries=$((tries + 1)); fi
            done
            [ -n "$dev" ] || fail root-not-found "no ISO 9660 volume $iso appeared; is the CD/SCSI driver in the stage-1 modules?"

            $bb mkdir -p /iso
            $bb mount -t iso9660 -o ro "/dev/$dev" /iso || fail root-mount "cannot mount /dev/$dev as ISO 9660"
            [ -f \(file) ] || fail root-not-found "the ISO on /dev/$dev has no \(rootFile)"
            $bb mount -t squashfs -o ro,loop \(file) /lower || fail root-mount "cannot loop-mount \(rootFile) from /dev/$dev"
            $bb mount -t tmpfs -o mode=0755 tmpfs /upper
            $bb mkdir -p /upper/rw /upper/work
            $bb mount -t overlay overlay -o lowerdir=/lower,upperdir=/upper/rw,workdir=/upper/work /newroot \\
              || fail root-mount "cannot mount the overlay over \(rootFile)"
            echo "ingot-stage1: root \(rootFile) on /dev/$dev (ISO 9660 $iso, squashfs, read-only) under a tmpfs overlay; no data partition, state stays in RAM"
            $bb mkdir -p /newroot/dev
            $bb mount --move /dev /newroot/dev
            $bb umount /proc /sys
            exec $bb switch_root /newroot /sbin/init

            """
    }
}
