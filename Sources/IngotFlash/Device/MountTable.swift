// Who uses a block device right now, from /proc: mounts (mountinfo, matched by major:minor and by
// the mount source's device node) and swap areas (/proc/swaps; a swap file counts against the
// filesystem that holds it).

import Foundation

#if canImport(Glibc)
    import Glibc
#endif
import CFlash

/// A `MAJOR:MINOR` device number.
public struct DevNumber: Hashable, Sendable, Codable, CustomStringConvertible {
    public var major: Int
    public var minor: Int

    /// Creates a device number.
    public init(major: Int, minor: Int) {
        self.major = major
        self.minor = minor
    }

    /// Parses `8:17`.
    public init?(_ text: String) {
        let parts = text.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ":")
        guard parts.count == 2, let a = Int(parts[0]), let b = Int(parts[1]) else { return nil }
        self.init(major: a, minor: b)
    }

    init(dev: UInt64) {
        self.init(major: Int(cflash_major(dev)), minor: Int(cflash_minor(dev)))
    }

    public var description: String { "\(major):\(minor)" }
}

/// Mounts and swap areas by device number.
public struct MountTable: Sendable, Equatable {
    /// Mountpoints per device number.
    public var mounts: [DevNumber: [String]]
    /// Device numbers in use as swap (a swap partition, or the filesystem holding a swap file).
    public var swap: Set<DevNumber>

    /// Creates a table (tests).
    public init(mounts: [DevNumber: [String]] = [:], swap: Set<DevNumber> = []) {
        self.mounts = mounts
        self.swap = swap
    }

    /// Reads `/proc/self/mountinfo` and `/proc/swaps` under `procRoot`.
    public static func read(procRoot: String = "/proc") -> MountTable {
        let info = (try? String(contentsOfFile: procRoot + "/self/mountinfo", encoding: .utf8)) ?? ""
        let swaps = (try? String(contentsOfFile: procRoot + "/swaps", encoding: .utf8)) ?? ""
        return parse(mountinfo: info, swaps: swaps, resolve: deviceNumber(ofNode:))
    }

    /// Parses mountinfo and swaps text; `resolve` maps a path to the device number it is (a
    /// device node) or lives on (a regular file).
    public static func parse(mountinfo: String, swaps: String, resolve: (String) -> (DevNumber, isNode: Bool)?)
        -> MountTable
    {
        var mounts: [DevNumber: [String]] = [:]
        for line in mountinfo.split(separator: "\n") {
            // id parent major:minor root mountpoint options [optional...] - fstype source superopts
            let fields = line.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
            guard fields.count >= 5, let dev = DevNumber(fields[2]) else { continue }
            let point = unescape(fields[4])
            var devs: Set<DevNumber> = [dev]
            if let dash = fields.firstIndex(of: "-"), dash + 2 < fields.count {
                let source = unescape(fields[dash + 2])
                if source.hasPrefix("/dev/"), let (node, isNode) = resolve(source), isNode { devs.insert(node) }
            }
            for d in devs where !(mounts[d]?.contains(point) ?? false) { mounts[d, default: []].append(point) }
        }
        var swap: Set<DevNumber> = []
        for line in swaps.split(separator: "\n").dropFirst() {
            guard let name = line.split(separator: " ", omittingEmptySubsequences: true).first else { continue }
            if let (dev, _) = resolve(unescape(String(name))) { swap.insert(dev) }
        }
        return MountTable(mounts: mounts, swap: swap)
    }

    /// mountinfo and swaps escape space, tab, newline and backslash as octal (`\040`).
    static func unescape(_ text: String) -> String {
        guard text.contains("\\") else { return text }
        var out: [UInt8] = []
        let bytes = Array(text.utf8)
        var i = 0
        while i < bytes.count {
            if bytes[i] == UInt8(ascii: "\\"), i + 4 <= bytes.count,
                let v = UInt8(String(decoding: bytes[(i + 1)..<(i + 4)], as: UTF8.self), radix: 8)
            {
                out.append(v)
                i += 4
            } else {
                out.append(bytes[i])
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The device number a device node is (`isNode`), or the one a file lives on.
    static func deviceNumber(ofNode path: String) -> (DevNumber, isNode: Bool)? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        if (st.st_mode & S_IFMT) == S_IFBLK { return (DevNumber(dev: UInt64(st.st_rdev)), true) }
        return (DevNumber(dev: UInt64(st.st_dev)), false)
    }
}
