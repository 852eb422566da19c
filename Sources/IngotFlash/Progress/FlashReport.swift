// What a flash did, per target and in total: bytes written, skipped (unmapped), zeroed and
// verified, seconds per phase, the partition table found, and why a target failed. Printed as
// the final summary and as the last `--progress=json` line.

/// The outcome of one target.
public struct TargetReport: Codable, Sendable, Equatable {
    public enum Status: String, Codable, Sendable {
        case ok
        case failed
    }
    public var path: String
    public var status: Status
    /// Why it failed (the error's description).
    public var error: String?
    /// First byte offset found to differ from the image, when verification failed on content.
    public var firstBadOffset: Int64?
    public var written: Int64
    /// Unmapped bytes left as they were.
    public var skipped: Int64
    /// Unmapped bytes zeroed (`--zero-unmapped`).
    public var zeroed: Int64
    public var verified: Int64
    public var writeSeconds: Double
    public var verifySeconds: Double
    /// What libblkid saw on the target after writing.
    public var table: ProbedTable?
    public var notes: [String]

    /// Creates an empty report for `path`.
    public init(path: String) {
        self.path = path
        status = .ok
        written = 0
        skipped = 0
        zeroed = 0
        verified = 0
        writeSeconds = 0
        verifySeconds = 0
        notes = []
    }
}

/// The outcome of a whole run.
public struct FlashReport: Codable, Sendable, Equatable {
    public var image: String
    public var imageSize: Int64
    /// Bytes of the image that carry data (the bmap's mapped bytes, else the image size).
    public var mappedBytes: Int64
    public var verifyOnly: Bool
    public var targets: [TargetReport]
    public var seconds: Double

    /// True when every target succeeded.
    public var succeeded: Bool { !targets.isEmpty && targets.allSatisfy { $0.status == .ok } }

    /// The human summary printed at the end.
    public var summary: String {
        var lines: [String] = []
        for t in targets {
            var parts: [String] = []
            if !verifyOnly {
                parts.append("written \(FlashFormat.bytes(t.written)) in \(String(format: "%.1f", t.writeSeconds)) s")
                if t.zeroed > 0 { parts.append("zeroed \(FlashFormat.bytes(t.zeroed))") }
                if t.skipped > 0 { parts.append("skipped \(FlashFormat.bytes(t.skipped)) unmapped") }
            }
            if t.verified > 0 || verifyOnly {
                parts.append(
                    "verified \(FlashFormat.bytes(t.verified)) in \(String(format: "%.1f", t.verifySeconds)) s")
            }
            if let table = t.table {
                parts.append("\(table.type) table \(table.uuid ?? "-") with \(table.partitions.count) partitions")
            }
            let head = t.status == .ok ? "OK  " : "FAIL"
            lines.append("\(head) \(t.path): " + parts.joined(separator: ", "))
            if let e = t.error { lines.append("     \(e)") }
            for n in t.notes { lines.append("     note: \(n)") }
        }
        let ok = targets.filter { $0.status == .ok }.count
        lines.append(
            "\(ok) of \(targets.count) target(s) \(verifyOnly ? "verified" : "written and verified") in "
                + "\(String(format: "%.1f", seconds)) s (image \(FlashFormat.bytes(imageSize)), \(FlashFormat.bytes(mappedBytes)) mapped)"
        )
        return lines.joined(separator: "\n")
    }
}
