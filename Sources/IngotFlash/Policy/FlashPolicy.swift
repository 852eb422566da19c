// The safety policy as a plain value: given what discovery saw of a target and the image size,
// it returns every reason to refuse (empty means the target may be written). Nothing here opens
// a device, so each rule is a unit test.

/// The rules a target must pass before anything is written.
public struct FlashPolicy: Sendable, Equatable {
    /// Mountpoints that mark the disk of the running system.
    public static let systemMountpoints: Set<String> = ["/", "/boot", "/boot/efi", "/efi", "/usr"]

    /// Write to fixed (non-removable) disks, once their identity is confirmed.
    public var allowFixed: Bool
    /// Identity tokens the user typed or passed with `--confirm-identity`.
    public var confirmedTokens: Set<String>
    /// Regular files may be targets.
    public var allowFiles: Bool
    /// Only reading (`--verify-only`): a mounted, fixed or read-only disk may be read; a
    /// partition, a non-block path and a disk smaller than the image are still refused.
    public var readOnly: Bool

    /// Creates a policy.
    public init(
        allowFixed: Bool = false, confirmedTokens: Set<String> = [], allowFiles: Bool = false, readOnly: Bool = false
    ) {
        self.allowFixed = allowFixed
        self.confirmedTokens = confirmedTokens
        self.allowFiles = allowFiles
        self.readOnly = readOnly
    }

    /// Every reason to refuse writing an image of `imageSize` bytes to `target` at `path`.
    public func refusals(path: String, target: TargetKind, imageSize: Int64) -> [FlashRefusal] {
        switch target {
        case .disk(let device): return refusals(device: device, imageSize: imageSize)
        case .partition(_, let disk): return [.partition(path: path, disk: disk)]
        case .regularFile, .missing:
            return allowFiles
                ? [] : [.notABlockDevice(path: path, what: target == .missing ? "does not exist" : "is a regular file")]
        case .other(let what): return [.notABlockDevice(path: path, what: "is \(what)")]
        }
    }

    /// Every reason to refuse writing `imageSize` bytes to `device`.
    public func refusals(device: BlockDevice, imageSize: Int64) -> [FlashRefusal] {
        let path = device.path
        var out: [FlashRefusal] = []
        if readOnly {
            return device.size < imageSize ? [.tooSmall(path: path, deviceSize: device.size, imageSize: imageSize)] : []
        }
        if let point = device.allMountpoints.first(where: { Self.systemMountpoints.contains($0) }) {
            out.append(.systemDisk(path: path, mountpoint: point))
        }
        if device.swap {
            out.append(.swap(path: path, on: path))
        }
        for p in device.partitions where p.swap {
            out.append(.swap(path: path, on: p.name.map { "/dev/" + $0 } ?? "partition \(p.number)"))
        }
        let mounts = device.allMountpoints.filter { !Self.systemMountpoints.contains($0) }
        if !mounts.isEmpty { out.append(.mounted(path: path, mounts: mounts)) }
        let holders = device.holders + device.partitions.flatMap(\.holders)
        if !holders.isEmpty { out.append(.held(path: path, holders: holders)) }
        if device.readOnly { out.append(.readOnly(path: path)) }
        if device.size < imageSize {
            out.append(.tooSmall(path: path, deviceSize: device.size, imageSize: imageSize))
        }
        if !device.isRemovableMedia {
            if !allowFixed {
                out.append(.fixed(path: path, summary: device.summary))
            } else if !confirmedTokens.contains(device.identity.token) {
                out.append(.fixedUnconfirmed(path: path, token: device.identity.token))
            }
        }
        return out
    }

    /// Refusals for several targets, including a target named twice (by path or device number).
    public func refusals(targets: [(path: String, kind: TargetKind)], imageSize: Int64) -> [FlashRefusal] {
        var out: [FlashRefusal] = []
        var seen: Set<String> = []
        for (path, kind) in targets {
            var key = path
            if case .disk(let d) = kind { key = "\(d.major):\(d.minor)" }
            if !seen.insert(key).inserted { out.append(.duplicate(path: path)) }
            out += refusals(path: path, target: kind, imageSize: imageSize)
        }
        return out
    }
}
