// Pinning the device the user confirmed: the kernel's disk sequence number where it has one
// (it changes whenever a medium is attached), else major:minor + serial + size. The flasher
// re-reads the identity from the open descriptor and refuses to write if anything moved.

/// The identity of a confirmed disk.
public struct DeviceIdentity: Codable, Sendable, Equatable, CustomStringConvertible {
    public var name: String
    public var major: Int
    public var minor: Int
    public var diskseq: UInt64?
    public var serial: String?
    public var size: Int64

    /// Creates an identity.
    public init(name: String, major: Int, minor: Int, diskseq: UInt64?, serial: String?, size: Int64) {
        self.name = name
        self.major = major
        self.minor = minor
        self.diskseq = diskseq
        self.serial = serial
        self.size = size
    }

    /// What a user types to confirm a fixed disk: `loop3:diskseq42`, or `sda:SERIAL:SIZE` on
    /// kernels without diskseq.
    public var token: String {
        if let diskseq { return "\(name):diskseq\(diskseq)" }
        let s = (serial.flatMap { $0.isEmpty ? nil : $0 } ?? "noserial").replacingOccurrences(of: " ", with: "_")
        return "\(name):\(s):\(size)"
    }

    public var description: String {
        var text = "\(name) (\(major):\(minor)"
        if let diskseq { text += ", diskseq \(diskseq)" }
        if let serial, !serial.isEmpty { text += ", serial \(serial)" }
        return text + ", \(size) bytes)"
    }

    /// Why `actual` is not the device that was confirmed, or nil when it is.
    public func mismatch(_ actual: DeviceIdentity) -> String? {
        if actual.major != major || actual.minor != minor {
            return "device number is \(actual.major):\(actual.minor), was \(major):\(minor)"
        }
        if let want = diskseq, let got = actual.diskseq, want != got {
            return "disk sequence number is \(got), was \(want) (the medium was replaced or re-attached)"
        }
        if diskseq == nil || actual.diskseq == nil, (serial ?? "") != (actual.serial ?? "") {
            return "serial is '\(actual.serial ?? "")', was '\(serial ?? "")'"
        }
        if actual.size != size { return "size is \(actual.size) bytes, was \(size)" }
        return nil
    }
}
