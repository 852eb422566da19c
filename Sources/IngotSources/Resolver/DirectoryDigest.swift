// A digest of a directory source for the build manifest: the sorted list of relative paths with
// their kind, permission bits, and content digest (files) or target (symlinks). Owners and times
// are left out: the composer does not take them from the host either.

import Foundation

#if canImport(Glibc)
    import Glibc
#endif

enum DirectoryDigest {
    static func compute(_ root: String) throws -> Digest {
        let fm = FileManager.default
        guard let walker = fm.enumerator(atPath: root) else {
            throw SourceResolver.SourceError.notFound(kind: "directory", path: root)
        }
        var paths: [String] = []
        while let p = walker.nextObject() as? String { paths.append(p) }
        paths.sort { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
        var listing = ""
        for rel in paths {
            let full = root + "/" + rel
            var st = stat()
            guard lstat(full, &st) == 0 else { continue }
            let mode = String(st.st_mode & 0o7777, radix: 8)
            switch st.st_mode & S_IFMT {
            case S_IFDIR: listing += "d \(mode) \(rel)\n"
            case S_IFLNK:
                let target = (try? fm.destinationOfSymbolicLink(atPath: full)) ?? ""
                listing += "l \(mode) \(rel) -> \(target)\n"
            case S_IFREG: listing += "f \(mode) \(rel) \(try Digest.of(fileAt: full).hex)\n"
            default: listing += "o \(mode) \(rel)\n"
            }
        }
        return Digest.of(Array(listing.utf8))
    }
}
