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
//   ingot.grow=1                   grow the data partition and its ext4 to the end of the medium
//                                  on first boot (needs the plan's `growTools`); a marker file on
//                                  the data filesystem (`.ingot/grown`) records that it was done
//   ingot.diskwait=<seconds>       how long to wait for the boot disk (default: the plan's)
// Its messages go to every active console (`console=tty0 console=ttyS0`: screen and serial), so
// a user at a real screen sees them while the harness reads the serial port.
// In ISO mode (`RootSource.iso`, written by the ISO assembler) it reads instead:
//   ingot.iso=<volume id>  the ISO 9660 volume id (offset 32808) of the CD, USB stick or disk
//                          holding the image; the root is a squashfs file on that volume

import Foundation

public struct Stage1Plan: Sendable, Equatable {
    /// insmod paths, dependencies first.
    public var modules: [String]
    /// Seconds to wait for the boot disk to appear (USB sticks enumerate late; `ingot.diskwait=`
    /// on the kernel command line overrides it).
    public var diskWaitSeconds: Int
    /// Where the root comes from: a partition of the boot disk (default) or a file on an ISO.
    public var source: RootSource
    /// Target-architecture sfdisk and resize2fs with their libraries, for growing the data
    /// partition; nil: stage 1 cannot grow it (`ingot.grow=1` then only says so).
    public var growTools: GrowTools?

    /// The files that let stage 1 grow the data partition: dynamically linked Debian binaries,
    /// their shared libraries and the dynamic loader, at the paths they have in Debian.
    public struct GrowTools: Sendable, Equatable {
        /// Absolute path of sfdisk inside the initramfs.
        public var sfdisk: String
        /// Absolute path of resize2fs inside the initramfs.
        public var resize2fs: String
        /// The directory holding their shared libraries (`LD_LIBRARY_PATH` for both).
        public var libraryPath: String
        /// Every file to install (binaries, libraries, loader).
        public var files: [(path: String, content: Content, executable: Bool)]
        /// Symbolic links to create (`/lib64` → `usr/lib64` and the like).
        public var symlinks: [(path: String, target: String)]

        public init(
            sfdisk: String, resize2fs: String, libraryPath: String,
            files: [(path: String, content: Content, executable: Bool)],
            symlinks: [(path: String, target: String)] = []
        ) {
            self.sfdisk = sfdisk
            self.resize2fs = resize2fs
            self.libraryPath = libraryPath
            self.files = files
            self.symlinks = symlinks
        }

        public static func == (lhs: GrowTools, rhs: GrowTools) -> Bool {
            lhs.sfdisk == rhs.sfdisk && lhs.resize2fs == rhs.resize2fs && lhs.libraryPath == rhs.libraryPath
                && lhs.files.map(\.path) == rhs.files.map(\.path)
                && lhs.files.map(\.content) == rhs.files.map(\.content)
                && lhs.symlinks.map(\.path) == rhs.symlinks.map(\.path)
                && lhs.symlinks.map(\.target) == rhs.symlinks.map(\.target)
        }
    }

    /// Where stage 1 finds the squashfs root.
    public enum RootSource: Sendable, Equatable {
        /// A partition of the disk named by `ingot.disk=` / `ingot.root=`.
        case disk
        /// The file at `rootFile` (absolute, inside the volume) on the ISO 9660 volume whose
        /// volume id is `ingot.iso=`; mounted through a loop device. There is no data partition.
        case iso(rootFile: String)
    }

    /// What runs as PID 1 of the new root.
    public var handoff: Handoff = .generated

    /// The init stage 1 switches to.
    public enum Handoff: Sendable, Equatable {
        /// Ingot's generated init (`/sbin/init`), which prints its own markers.
        case generated
        /// The root's own init (`boot.init` of the spec, e.g. systemd): stage 1 prints the
        /// `stage=init` marker for it (with the appliance name and the init's path) and execs it.
        case own(init: String, appliance: String)
    }

    public init(modules: [String], diskWaitSeconds: Int = 30, source: RootSource = .disk, growTools: GrowTools? = nil) {
        self.modules = modules
        self.diskWaitSeconds = diskWaitSeconds
        self.source = source
        self.growTools = growTools
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

            # Every active console (screen and serial): /dev/console is the last one listed in
            # /sys/class/tty/console/active; the others (tty0, a screen) get a copy. Serial ports
            # are only written through /dev/console (opening a UART anew can wait for carrier).
            others=$($bb cat /sys/class/tty/console/active 2>/dev/null)
            others=$(echo "$others" | $bb awk '{ for (i = 1; i < NF; i++) if ($i ~ /^tty[0-9]+$/) print $i }')
            say() {
              echo "$*"
              for c in $others; do echo "$*" > "/dev/$c" 2>/dev/null; done
            }

            # A driver for hardware the machine lacks refuses to load (No such device): not worth a line.
            load() {
              [ -d "/sys/module/$1" ] && return 0
              out=$($bb insmod "$2" 2>&1) && return 0
              case "$out" in *"No such device"*) return 0 ;; esac
              say "ingot-stage1: loading $2 failed: $out"
            }

            fail() {
              payload="v1 stage=fail seq=0 reason=$1"
              crc=$(printf '%s' "$payload" | $bb crc32)
              say "ingot-stage1: $2"
              say "@@INGOT $payload $crc@@"
              while :; do $bb sleep 3600; done
            }

            """
        for ko in modules {
            let name = ModuleClosure.moduleName(ofPath: ko)
            s += "load \(name) \(InitPlan.quote(ko))\n"
        }
        if case .iso(let rootFile) = source { return s + renderISOBody(rootFile: rootFile) }
        s += """

            disk=; rootn=; datan=; datamount=; grow=; wait=\(diskWaitSeconds)
            for w in $($bb cat /proc/cmdline); do
              case "$w" in
                ingot.disk=*) disk=${w#ingot.disk=} ;;
                ingot.root=*) rootn=${w#ingot.root=} ;;
                ingot.data=*) datan=${w#ingot.data=} ;;
                ingot.datamount=*) datamount=${w#ingot.datamount=} ;;
                ingot.grow=*) grow=${w#ingot.grow=} ;;
                ingot.diskwait=*) wait=${w#ingot.diskwait=} ;;
              esac
            done
            [ -n "$disk" ] && [ -n "$rootn" ] || fail bad-cmdline "the kernel command line lacks ingot.disk= or ingot.root="

            # The disk whose on-disk identifier matches (the kernel names disks by bus order).
            # USB sticks and slow card readers appear seconds after their driver loads.
            want=${disk#*:}
            dev=
            tries=0
            while [ -z "$dev" ] && [ $tries -lt $((wait * 10)) ]; do
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
              if [ -z "$dev" ]; then
                [ $tries -eq 50 ] && say "ingot-stage1: waiting up to $wait s for the disk $disk (ingot.diskwait= changes it)"
                $bb usleep 100000; tries=$((tries + 1))
              fi
            done
            [ -n "$dev" ] || fail root-not-found "no disk with identifier $disk appeared in $wait s; is the storage driver in the board's initramfsModules?"

            part() {
              for p in /sys/block/$dev/*/partition; do
                [ -e "$p" ] || continue
                if [ "$($bb cat "$p")" = "$1" ]; then p=${p%/partition}; echo "${p##*/}"; return 0; fi
              done
              return 1
            }
            rootdev=$(part "$rootn") || fail root-not-found "partition $rootn is missing on /dev/$dev"

            # The data partition is mounted (and on first boot grown) before anything else of the
            # disk is in use, so the kernel can re-read the partition table.
            datadev=
            if [ -n "$datan" ] && [ -n "$datamount" ]; then
              if datadev=$(part "$datan"); then
                $bb mkdir -p /data
                if ! $bb mount -t ext4 -o rw,noatime "/dev/$datadev" /data; then
                  say "ingot-stage1: data partition /dev/$datadev not mounted; state stays in RAM"
                  datadev=
                fi
              else
                say "ingot-stage1: data partition $datan missing on /dev/$dev; state stays in RAM"
                datadev=
              fi
            fi
            \(renderGrow())
            $bb mount -t squashfs -o ro "/dev/$rootdev" /lower || fail root-mount "cannot mount the squashfs root /dev/$rootdev"
            $bb mount -t tmpfs -o mode=0755 tmpfs /upper
            $bb mkdir -p /upper/rw /upper/work
            $bb mount -t overlay overlay -o lowerdir=/lower,upperdir=/upper/rw,workdir=/upper/work /newroot \\
              || fail root-mount "cannot mount the overlay over /dev/$rootdev"
            if [ -n "$datadev" ]; then
              $bb mkdir -p "/newroot$datamount"
              $bb mount --move /data "/newroot$datamount" || say "ingot-stage1: cannot move the data mount to $datamount"
            fi
            say "ingot-stage1: root /dev/$rootdev (squashfs, read-only) under a tmpfs overlay"
            $bb mkdir -p /newroot/dev
            $bb mount --move /dev /newroot/dev
            $bb umount /proc /sys
            \(renderHandoff())

            """
        return s
    }

    /// The first-boot growth of the data partition (`ingot.grow=1`): only when the data
    /// filesystem is mounted at /data and carries no `.ingot/grown` marker. The partition must be
    /// the last one on the disk; the table is rewritten by sfdisk (GPT: the backup header moved to
    /// the new end first), the kernel re-reads it (nothing of the disk is mounted then), and ext4 is
    /// grown online by resize2fs. The marker records the outcome so this runs once.
    func renderGrow() -> String {
        guard let tools = growTools else {
            return """
                if [ "$grow" = 1 ] && [ -n "$datadev" ] && [ ! -e /data/.ingot/grown ]; then
                  say "ingot-stage1: this image carries no sfdisk/resize2fs; the data partition keeps its size"
                fi
                """
        }
        let env = "$bb env LD_LIBRARY_PATH=\(InitPlan.quote(tools.libraryPath)) "
        let sfdisk = env + InitPlan.quote(tools.sfdisk)
        let resize2fs = env + InitPlan.quote(tools.resize2fs)
        return """
            grown() {
              $bb mkdir -p /data/.ingot
              echo "$1" > /data/.ingot/grown
              $bb sync
            }
            if [ "$grow" = 1 ] && [ -n "$datadev" ] && [ ! -e /data/.ingot/grown ]; then
              dstart=$($bb cat /sys/block/$dev/$datadev/start)
              dsize=$($bb cat /sys/block/$dev/$datadev/size)
              dend=$((dstart + dsize))
              total=$($bb cat /sys/block/$dev/size)
              last=yes
              for p in /sys/block/$dev/*/partition; do
                p=${p%/partition}
                pend=$(( $($bb cat "$p/start") + $($bb cat "$p/size") ))
                [ $pend -gt $dend ] && last=no
              done
              if [ "$last" = no ]; then
                say "ingot-stage1: data partition $datan is not the last on /dev/$dev, so it cannot grow; it keeps $((dsize / 2048)) MiB"
                grown "result=not-last size_kib=$((dsize / 2))"
              elif [ $((total - dend)) -lt 4096 ]; then
                grown "result=fills-medium size_kib=$((dsize / 2))"
              else
                say "ingot-stage1: growing data partition /dev/$datadev ($((dsize / 2048)) MiB) to the end of /dev/$dev ($((total / 2048)) MiB)"
                $bb umount /data
                label=$(\(sfdisk) --dump "/dev/$dev" 2>/dev/null | $bb sed -n 's/^label: //p')
                [ "$label" = gpt ] && \(sfdisk) -q --relocate gpt-bak-std "/dev/$dev" >/tmp/sfdisk.log 2>&1
                # sfdisk re-reads the table itself (nothing of the disk is mounted now).
                if echo ', +' | \(sfdisk) -q -N "$datan" "/dev/$dev" >>/tmp/sfdisk.log 2>&1; then
                  tries=0
                  while [ ! -b "/dev/$datadev" ] && [ $tries -lt 50 ]; do $bb usleep 100000; tries=$((tries + 1)); done
                  $bb mount -t ext4 -o rw,noatime "/dev/$datadev" /data || fail data-grow "cannot mount /dev/$datadev after growing its partition"
                  if \(resize2fs) "/dev/$datadev" >/tmp/resize2fs.log 2>&1; then
                    nsize=$($bb cat /sys/block/$dev/$datadev/size)
                    grown "result=grown from_kib=$((dsize / 2)) size_kib=$((nsize / 2))"
                    say "ingot-stage1: data partition /dev/$datadev grown to $((nsize / 2048)) MiB (ext4 resized online)"
                  else
                    say "ingot-stage1: resize2fs failed; the data filesystem keeps its size:"
                    while read -r l; do say "  $l"; done < /tmp/resize2fs.log
                  fi
                else
                  say "ingot-stage1: growing the partition table failed; the data partition keeps its size:"
                  while read -r l; do say "  $l"; done < /tmp/sfdisk.log
                  $bb mount -t ext4 -o rw,noatime "/dev/$datadev" /data || fail data-grow "cannot mount /dev/$datadev again"
                fi
              fi
            fi
            """
    }

    /// Builds the stage-1 tree: `busybox` (the target's), the modules from `kernelTree`, /init.
    public func tree(busybox: Content, kernelTree: FileTree, spool: ContentSpool, mtime: Int64) throws -> FileTree {
        let t = try FileTree(spool: spool)
        try t.insert(Node(kind: .file(busybox), permissions: 0o755, mtime: mtime), at: "/bin/busybox")
        for ko in modules {
            guard let node = kernelTree.lookup(ko), let c = node.content else { throw FileTree.Error.notFound(ko) }
            try t.insert(Node(kind: .file(c), permissions: 0o644, mtime: mtime), at: ko)
        }
        if let tools = growTools {
            for file in tools.files {
                try t.insert(
                    Node(kind: .file(file.content), permissions: file.executable ? 0o755 : 0o644, mtime: mtime),
                    at: file.path)
            }
            for link in tools.symlinks where t.lookup(link.path) == nil {
                try t.addSymlink(link.path, target: link.target, mtime: mtime)
            }
            // resize2fs decides "online" from the mount table.
            try t.addSymlink("/etc/mtab", target: "../proc/mounts", mtime: mtime)
        }
        try t.addFile("/init", text: renderScript(), permissions: 0o755, mtime: mtime)
        try t.insert(
            Node(kind: .characterDevice(major: 5, minor: 1), permissions: 0o600, mtime: mtime), at: "/dev/console")
        try t.addDirectory("/proc", mtime: mtime)
        try t.addDirectory("/sys", mtime: mtime)
        try t.addDirectory("/tmp", mtime: mtime)
        t.clampTimes(to: mtime)
        return t
    }
}

extension Stage1Plan {
    /// The last step: switch to the generated init, or announce and switch to the root's own.
    func renderHandoff() -> String {
        switch handoff {
        case .generated:
            return "exec $bb switch_root /newroot /sbin/init"
        case .own(let initPath, let appliance):
            let payload = "v1 stage=init seq=0 name=\(InitPlan.token(appliance)) init=\(InitPlan.token(initPath))"
            return """
                say \(InitPlan.quote("ingot-stage1: handing over to the root's own init \(initPath)"))
                say "\(MarkerText.line(payload: payload))"
                exec $bb switch_root /newroot \(InitPlan.quote(initPath))
                """
        }
    }

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
            say "ingot-stage1: root \(rootFile) on /dev/$dev (ISO 9660 $iso, squashfs, read-only) under a tmpfs overlay; no data partition, state stays in RAM"
            $bb mkdir -p /newroot/dev
            $bb mount --move /dev /newroot/dev
            $bb umount /proc /sys
            \(renderHandoff())

            """
    }
}
