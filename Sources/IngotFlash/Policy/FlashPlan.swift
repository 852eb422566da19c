// The flash plan: which image (with its bmap and size), which targets (each pinned by identity),
// and how (verify, zero unmapped ranges, direct I/O). A plain value: `ingot flash --dry-run`
// prints it, tests build it without a device, and `Flasher` executes it.

/// How to write.
public struct FlashOptions: Sendable, Codable, Equatable {
    /// Read back and check after writing.
    public var verify: Bool
    /// Only verify: read the targets and compare, write nothing.
    public var verifyOnly: Bool
    /// Zero (or discard with guaranteed zeros) the ranges the bmap leaves unmapped.
    public var zeroUnmapped: Bool
    /// Use O_DIRECT where the device allows it.
    public var directIO: Bool
    /// fsync after this many bytes written.
    public var syncInterval: Int64
    /// Bytes per transfer.
    public var chunkSize: Int
    /// Check the partition table libblkid sees on the target against the image's.
    public var checkTable: Bool
    /// Test hook: target path → fail with EIO after this many bytes written.
    public var faultAfter: [String: Int64]

    /// Creates options.
    public init(
        verify: Bool = true, verifyOnly: Bool = false, zeroUnmapped: Bool = false, directIO: Bool = true,
        syncInterval: Int64 = 256 << 20, chunkSize: Int = 4 << 20, checkTable: Bool = true,
        faultAfter: [String: Int64] = [:]
    ) {
        self.verify = verify
        self.verifyOnly = verifyOnly
        self.zeroUnmapped = zeroUnmapped
        self.directIO = directIO
        self.syncInterval = syncInterval
        self.chunkSize = chunkSize
        self.checkTable = checkTable
        self.faultAfter = faultAfter
    }
}

/// One target of a plan.
public struct FlashTarget: Sendable, Codable, Equatable {
    /// What is written.
    public enum Kind: Sendable, Codable, Equatable {
        /// A whole disk, pinned by the identity confirmed.
        case device(BlockDevice)
        /// A regular file (`--to-file`).
        case file
    }
    /// The path given on the command line.
    public var path: String
    public var kind: Kind

    /// Creates a target.
    public init(path: String, kind: Kind) {
        self.path = path
        self.kind = kind
    }

    /// The device, for device targets.
    public var device: BlockDevice? {
        if case .device(let d) = kind { return d }
        return nil
    }

    /// A line naming the target.
    public var summary: String { device?.summary ?? "\(path) (regular file)" }
}

/// Everything needed to write (or verify) one image onto one or more targets.
public struct FlashPlan: Sendable, Codable, CustomStringConvertible {
    public var image: FlashImage
    public var targets: [FlashTarget]
    public var options: FlashOptions

    /// Creates a plan.
    public init(image: FlashImage, targets: [FlashTarget], options: FlashOptions) {
        self.image = image
        self.targets = targets
        self.options = options
    }

    public var description: String {
        var lines: [String] = []
        let comp = image.compression == .none ? "raw" : image.compression.rawValue + "-compressed"
        lines.append(
            "image: \(image.path) (\(comp), \(image.size) bytes = \(FlashFormat.bytes(image.size)); size from \(image.sizeSource))"
        )
        if let bmap = image.bmap, let path = image.bmapPath {
            lines.append(
                "bmap: \(path) (\(bmap.ranges.count) ranges, \(FlashFormat.bytes(image.writeBytes)) mapped of "
                    + "\(FlashFormat.bytes(image.size)), block \(bmap.blockSize))")
        } else {
            lines.append("bmap: none (every byte is written)")
        }
        if let m = image.manifestPath, let d = image.manifestDigest { lines.append("manifest: \(m) (sha256 \(d))") }
        for t in targets {
            lines.append("target: \(t.summary)")
            if let d = t.device { lines.append("  pinned: \(d.identity) token \(d.identity.token)") }
        }
        var how: [String] = []
        if options.verifyOnly {
            how.append("verify only (nothing is written)")
        } else {
            how.append(
                options.verify
                    ? "write, then read back with O_DIRECT and compare" : "write without read-back (--no-verify)")
            if image.bmap != nil {
                how.append(options.zeroUnmapped ? "zero unmapped ranges" : "leave unmapped ranges as they are")
            }
            how.append(options.directIO ? "O_DIRECT where the device allows" : "buffered I/O")
            how.append("fsync every \(FlashFormat.bytes(options.syncInterval))")
        }
        if options.checkTable { how.append("check the partition table with libblkid") }
        lines.append("steps: " + how.joined(separator: "; "))
        return lines.joined(separator: "\n")
    }
}
