// Untimed checks that compare a root filesystem with the tar it came from, using the field's own
// tools on both ends: GNU tar's verbose listing of the input (`tar --numeric-owner -tvf`) against
// `unsquashfs -lln` of the output (path, type, mode, owner, size of regular files, link target,
// device numbers), and file bytes (`unsquashfs -d` extracts, libarchive reads the tar). A listing
// that cannot be parsed is a failed check, never a silent pass.

import Foundation
import IngotTree

/// One path as an `ls -l`-style listing shows it.
struct ListEntry: Equatable {
    /// The type letter: `-` file, `d` directory, `l` symlink, `c`/`b` device, `p` fifo, `s` socket.
    var type: Character
    /// Permission bits including setuid, setgid and sticky.
    var mode: UInt32
    var uid: UInt32
    var gid: UInt32
    /// Bytes of a regular file (nil for every other type: directory and link sizes differ by
    /// format and mean nothing here).
    var size: Int64?
    /// A symlink's target.
    var link: String?
    /// "major,minor" of a device.
    var device: String?

    var shown: String {
        var s = "\(type)\(String(mode, radix: 8)) \(uid)/\(gid)"
        if let size { s += " \(size) bytes" }
        if let link { s += " -> \(link)" }
        if let device { s += " dev \(device)" }
        return s
    }
}

enum Listing {
    enum Error: Swift.Error, CustomStringConvertible {
        case unparsable(tool: String, line: String)
        case danglingHardlink(String, String)
        var description: String {
            switch self {
            case .unparsable(let tool, let line): return "cannot parse this line of \(tool)'s listing: '\(line)'"
            case .danglingHardlink(let path, let target):
                return "the tar's hard link \(path) points to \(target), which the listing does not hold"
            }
        }
    }

    /// The tar's listing by GNU tar, keyed by absolute path ("/" for the root). Hard links take
    /// their target's entry, as a filesystem shows them; a later entry for a path replaces an
    /// earlier one, as extraction does.
    static func tar(_ path: String) throws -> [String: ListEntry] {
        let text = try ChildProcess.capture(["tar", "--numeric-owner", "--quoting-style=literal", "-tvf", path])
        var out: [String: ListEntry] = [:]
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            let line = String(line)
            guard var (entry, name) = parse(line, tool: "tar") else { throw Error.unparsable(tool: "tar", line: line) }
            if entry.type == "h" {
                guard let r = name.range(of: " link to ") else { throw Error.unparsable(tool: "tar", line: line) }
                let target = clean(String(name[r.upperBound...]), prefix: ".")
                name = String(name[..<r.lowerBound])
                guard let original = out[target] else { throw Error.danglingHardlink(name, target) }
                entry = original
            } else if entry.type == "l" {
                guard let r = name.range(of: " -> ") else { throw Error.unparsable(tool: "tar", line: line) }
                entry.link = String(name[r.upperBound...])
                name = String(name[..<r.lowerBound])
            }
            out[clean(name, prefix: ".")] = entry
        }
        return out
    }

    /// `unsquashfs -lln ARGS` (e.g. `["-o", "1048576", "disk.img"]`), keyed by absolute path.
    static func squashfs(_ args: [String]) throws -> [String: ListEntry] {
        let text = try ChildProcess.capture(["unsquashfs", "-lln"] + args)
        var out: [String: ListEntry] = [:]
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            let line = String(line)
            // unsquashfs prints a few summary lines before the listing on some versions.
            guard line.first.map({ "-dlcbps".contains($0) }) == true, line.contains("squashfs-root") else { continue }
            guard var (entry, name) = parse(line, tool: "unsquashfs") else {
                throw Error.unparsable(tool: "unsquashfs", line: line)
            }
            if entry.type == "l" {
                guard let r = name.range(of: " -> ") else { throw Error.unparsable(tool: "unsquashfs", line: line) }
                entry.link = String(name[r.upperBound...])
                name = String(name[..<r.lowerBound])
            }
            out[clean(name, prefix: "squashfs-root")] = entry
        }
        return out
    }

    /// Differences between the expected (tar) and the actual (filesystem) listing, one line each.
    static func differences(expected: [String: ListEntry], actual: [String: ListEntry]) -> [String] {
        var out: [String] = []
        for path in Set(expected.keys).union(actual.keys).sorted() {
            switch (expected[path], actual[path]) {
            case (let e?, let a?) where e != a: out.append("\(path): tar \(e.shown), image \(a.shown)")
            case (let e?, nil): out.append("\(path): in the tar (\(e.shown)), missing from the image")
            case (nil, let a?): out.append("\(path): in the image (\(a.shown)), not in the tar")
            default: break
            }
        }
        return out
    }

    /// "./usr/bin/" or "squashfs-root/usr/bin" → "/usr/bin".
    static func clean(_ name: String, prefix: String) -> String {
        var n = Substring(name)
        if n.hasPrefix(prefix) { n = n.dropFirst(prefix.count) }
        while n.hasSuffix("/") { n = n.dropLast() }
        return n.isEmpty ? "/" : (n.hasPrefix("/") ? String(n) : "/" + n)
    }

    /// Splits one `ls -l`-style line: mode string, "uid/gid", size or "major,minor" (unsquashfs
    /// writes "1,  3"), date, time, then the name to the end of the line.
    static func parse(_ line: String, tool: String) -> (ListEntry, String)? {
        // Tokens with where they end, so the name keeps its own spaces.
        var tokens: [(text: Substring, end: String.Index)] = []
        var i = line.startIndex
        while i < line.endIndex, tokens.count < 8 {
            while i < line.endIndex, line[i] == " " { i = line.index(after: i) }
            let start = i
            while i < line.endIndex, line[i] != " " { i = line.index(after: i) }
            if start < i { tokens.append((line[start..<i], i)) }
        }
        guard let dateIndex = tokens.firstIndex(where: { isDate($0.text) }), dateIndex >= 3,
            dateIndex + 1 < tokens.count
        else { return nil }
        let timeEnd = tokens[dateIndex + 1].end
        guard timeEnd < line.endIndex else { return nil }
        let name = String(line[line.index(after: timeEnd)...])
        let modeText = tokens[0].text
        let owner = tokens[1].text.split(separator: "/")
        guard modeText.count == 10, let type = modeText.first, let mode = permissions(modeText), owner.count == 2,
            let uid = UInt32(owner[0]), let gid = UInt32(owner[1])
        else { return nil }
        let sizeText = tokens[2..<dateIndex].map { String($0.text) }.joined()
        var entry = ListEntry(type: type, mode: mode, uid: uid, gid: gid)
        switch type {
        case "-":
            guard let size = Int64(sizeText) else { return nil }
            entry.size = size
        case "c", "b":
            entry.device = sizeText
        case "h":
            break  // resolved by the caller
        default:
            break
        }
        return (entry, name)
    }

    static func isDate(_ s: Substring) -> Bool {
        s.count == 10 && s.filter { $0 == "-" }.count == 2 && s.first?.isNumber == true
    }

    /// "rwsr-xr-t" → 0o5755.
    static func permissions(_ text: Substring) -> UInt32? {
        let c = Array(text.dropFirst())
        guard c.count == 9 else { return nil }
        var mode: UInt32 = 0
        let bits: [UInt32] = [0o400, 0o200, 0o100, 0o040, 0o020, 0o010, 0o004, 0o002, 0o001]
        for (k, ch) in c.enumerated() {
            switch ch {
            case "-": break
            case "r", "w", "x": mode |= bits[k]
            case "s" where k == 2: mode |= 0o4100
            case "S" where k == 2: mode |= 0o4000
            case "s" where k == 5: mode |= 0o2010
            case "S" where k == 5: mode |= 0o2000
            case "t" where k == 8: mode |= 0o1001
            case "T" where k == 8: mode |= 0o1000
            default: return nil
            }
        }
        return mode
    }
}

/// File bytes of an extracted filesystem against the tar, file by file.
enum ContentCheck {
    struct Result {
        var compared: Int64 = 0
        var bytes: Int64 = 0
        var problems: [String] = []
    }

    /// Compares every regular file of `tar` (libarchive's bytes) with the file of the same path
    /// under `directory` (e.g. what `unsquashfs -d` extracted).
    static func compare(tar: String, directory: String) throws -> Result {
        var result = Result()
        let reader = try ArchiveReader(path: tar, formats: .all)
        while let entry = try reader.next() {
            guard entry.kind == .file, let clean = FileTree.sanitize(entry.path), clean != "/" else { continue }
            result.compared += 1
            guard let handle = FileHandle(forReadingAtPath: directory + clean) else {
                result.problems.append("\(clean): missing from the extracted filesystem")
                continue
            }
            defer { try? handle.close() }
            var equal = true
            var seen: Int64 = 0
            try reader.readData { chunk in
                guard equal else { return }
                let got = handle.readData(ofLength: chunk.count)
                if got.count != chunk.count || !got.elementsEqual(chunk) { equal = false }
                seen += Int64(chunk.count)
            }
            if equal, !handle.readData(ofLength: 1).isEmpty { equal = false }
            result.bytes += seen
            if !equal { result.problems.append("\(clean): bytes differ from the tar's") }
        }
        return result
    }
}
