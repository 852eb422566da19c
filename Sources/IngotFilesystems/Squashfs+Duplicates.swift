// Duplicate file detection, as mksquashfs does by default: files with identical content share
// one set of data blocks (and fragment). Only files whose size collides with another file's are
// checksummed (zlib crc32 + adler32, fast C code), and candidates are compared byte for byte, so
// a checksum collision can never merge different files.

import CZlib
import Foundation
import IngotTree

enum SquashfsDuplicates {
    /// Maps each duplicate file node to the first node (in `files` order) with the same content.
    static func find(in tree: FileTree, files: [Node]) throws -> [ObjectIdentifier: Node] {
        var bySize: [Int64: [Node]] = [:]
        for node in files {
            guard let c = node.content, c.size > 0 else { continue }
            bySize[c.size, default: []].append(node)
        }
        var duplicateOf: [ObjectIdentifier: Node] = [:]
        // Sizes in sorted order keep the work (not the result) deterministic.
        for size in bySize.keys.sorted() {
            guard let group = bySize[size], group.count > 1 else { continue }
            var originals: [UInt64: [Node]] = [:]
            for node in group {
                guard let content = node.content else { continue }
                let key = try checksum(content, tree: tree)
                var matched = false
                for original in originals[key] ?? [] {
                    if let oc = original.content, try equal(oc, content, tree: tree) {
                        duplicateOf[ObjectIdentifier(node)] = original
                        matched = true
                        break
                    }
                }
                if !matched { originals[key, default: []].append(node) }
            }
        }
        return duplicateOf
    }

    private static func checksum(_ content: Content, tree: FileTree) throws -> UInt64 {
        var crc = crc32(0, nil, 0)
        var adler = adler32(0, nil, 0)
        try tree.readChunks(of: content) { chunk in
            guard let base = chunk.baseAddress?.assumingMemoryBound(to: Bytef.self) else { return }
            crc = crc32(crc, base, uInt(chunk.count))
            adler = adler32(adler, base, uInt(chunk.count))
        }
        return UInt64(crc) << 32 | UInt64(adler & 0xFFFF_FFFF)
    }

    private static func equal(_ a: Content, _ b: Content, tree: FileTree) throws -> Bool {
        guard a.size == b.size else { return false }
        if a == b { return true }
        let step: Int64 = 1 << 20
        var offset: Int64 = 0
        while offset < a.size {
            let n = Int(min(step, a.size - offset))
            if try slice(a, offset, n, tree) != slice(b, offset, n, tree) { return false }
            offset += Int64(n)
        }
        return true
    }

    private static func slice(_ c: Content, _ offset: Int64, _ count: Int, _ tree: FileTree) throws -> [UInt8] {
        switch c.storage {
        case .inline(let bytes): return Array(bytes[Int(offset)..<(Int(offset) + count)])
        case .spool(let start): return try tree.spool.read(offset: start + offset, count: count)
        }
    }
}
