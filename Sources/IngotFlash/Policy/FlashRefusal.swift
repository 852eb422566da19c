// Why a target is refused. Each case names the device and says what to do; the policy returns
// every reason at once so the user fixes them in one go.

/// One reason not to write a target.
public enum FlashRefusal: Swift.Error, CustomStringConvertible, Equatable, Sendable {
    /// Not a block device and `--to-file` was not given.
    case notABlockDevice(path: String, what: String)
    /// A partition, not a whole disk.
    case partition(path: String, disk: String)
    /// The disk holds the running system.
    case systemDisk(path: String, mountpoint: String)
    /// The disk (or a partition) is in use as swap.
    case swap(path: String, on: String)
    /// The disk or a partition is mounted.
    case mounted(path: String, mounts: [String])
    /// A device mapper, md or LVM device is stacked on it.
    case held(path: String, holders: [String])
    /// The device is read-only (a locked SD card, a read-only loop).
    case readOnly(path: String)
    /// Smaller than the image.
    case tooSmall(path: String, deviceSize: Int64, imageSize: Int64)
    /// A fixed (non-removable) disk without `--allow-fixed`.
    case fixed(path: String, summary: String)
    /// A fixed disk with `--allow-fixed`, but its identity was not typed.
    case fixedUnconfirmed(path: String, token: String)
    /// The same target named twice.
    case duplicate(path: String)
    /// The device is not the one confirmed (checked again after the open).
    case identityChanged(path: String, reason: String)

    public var description: String {
        switch self {
        case .notABlockDevice(let p, let what):
            return
                "\(p): \(what), not a block device; name a whole disk from `ingot devices`, or pass --to-file to write "
                + "the image into a regular file"
        case .partition(let p, let disk):
            return "\(p): is a partition of /dev/\(disk); name the whole disk (/dev/\(disk)) to write an image"
        case .systemDisk(let p, let point):
            return "\(p): holds the running system (\(point) is mounted from it); this disk is never written"
        case .swap(let p, let on):
            return "\(p): \(on) is in use as swap; run `swapoff` on it first if this really is the card to write"
        case .mounted(let p, let mounts):
            return
                "\(p): mounted at \(mounts.joined(separator: ", ")); unmount it first (`umount \(mounts.first ?? "")`)"
        case .held(let p, let holders):
            return "\(p): in use by \(holders.joined(separator: ", ")) (device mapper, md or LVM); deactivate it first "
                + "(`dmsetup remove`, `mdadm --stop`, `vgchange -an`)"
        case .readOnly(let p):
            return "\(p): is read-only (an SD card's lock switch, or a read-only loop device); make it writable first"
        case .tooSmall(let p, let dev, let img):
            return "\(p): holds \(dev) bytes (\(FlashFormat.bytes(dev))) but the image needs \(img) bytes "
                + "(\(FlashFormat.bytes(img))); use a larger card"
        case .fixed(let p, let summary):
            return "\(p): is a fixed disk (\(summary)), not removable media; if you really mean it, pass --allow-fixed "
                + "and confirm its identity"
        case .fixedUnconfirmed(let p, let token):
            return "\(p): is a fixed disk; with --allow-fixed, type its identity '\(token)' at the prompt or pass "
                + "--confirm-identity \(token)"
        case .duplicate(let p):
            return "\(p): named more than once; name each device once"
        case .identityChanged(let p, let reason):
            return
                "\(p): is no longer the device you confirmed (\(reason)); nothing was written — check `ingot devices` "
                + "and run the command again"
        }
    }
}

extension FlashRefusal {
    /// A few words for the device table (`ingot devices`).
    public var short: String {
        switch self {
        case .notABlockDevice: return "not a block device"
        case .partition: return "partition"
        case .systemDisk(_, let point): return "system disk (\(point))"
        case .swap: return "swap"
        case .mounted(_, let mounts): return "mounted \(mounts.joined(separator: ","))"
        case .held(_, let holders): return "held by \(holders.joined(separator: ","))"
        case .readOnly: return "read-only"
        case .tooSmall: return "too small"
        case .fixed, .fixedUnconfirmed: return "fixed disk"
        case .duplicate: return "named twice"
        case .identityChanged: return "changed"
        }
    }
}
