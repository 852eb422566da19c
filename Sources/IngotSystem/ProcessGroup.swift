// Process groups as the kernel sees them: the live (non-zombie) members of a group, read from
// /proc. A group outlives its leader while any member remains, so "ended" means no live member.

import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// Reading process-group membership from /proc.
public enum ProcessGroup {
    /// Pids of live (non-zombie) processes whose process group is `group`.
    public static func liveMembers(of group: pid_t) -> [pid_t] {
        guard let directory = opendir("/proc") else { return [] }
        defer { closedir(directory) }
        var members: [pid_t] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            guard let pid = pid_t(name), let stat = readSmallFile("/proc/\(name)/stat"),
                let close = stat.lastIndex(of: ")")
            else { continue }
            // Fields after the command name: state ppid pgrp ...
            let fields = stat[stat.index(after: close)...].split(separator: " ", maxSplits: 4)
            guard fields.count > 2, let pgrp = pid_t(fields[2]) else { continue }
            if pgrp == group && fields[0] != "Z" && fields[0] != "X" { members.append(pid) }
        }
        return members
    }

    /// True while any live process remains in `group`.
    public static func isAlive(_ group: pid_t) -> Bool { !liveMembers(of: group).isEmpty }

    private static func readSmallFile(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 1024)
        let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard count > 0 else { return nil }
        return String(decoding: buffer[0..<count], as: UTF8.self)
    }
}
