// What apt's answer depends on, as one digest: the package lists (names, sizes, times), the
// preferences and sources files, and APT_CONFIG. A closure resolved once is reused while the
// fingerprint stays the same, so warm builds run no apt at all; `apt-get update` changes the
// lists and the next build asks apt again (and notices drift against the lock).

import Crypto
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

extension AptSolver {
    /// The fingerprint of the apt state the solver reads.
    func fingerprint() async throws -> String {
        let r = try await ProcessRunner.run(
            "apt-config",
            [
                "shell", "L", "Dir::State::Lists/d", "P", "Dir::Etc::preferencesparts/d", "PF",
                "Dir::Etc::preferences/f",
                "SL", "Dir::Etc::sourcelist/f", "SP", "Dir::Etc::sourceparts/d",
            ], environment: environment)
        guard r.succeeded else {
            throw Error.failed(command: "apt-config shell", status: r.status, detail: r.stderr)
        }
        var vars: [String: String] = [:]
        for line in r.stdout.split(separator: "\n") {
            guard let eq = line.firstIndex(of: "=") else { continue }
            var v = String(line[line.index(after: eq)...])
            if v.hasPrefix("'") && v.hasSuffix("'") && v.count >= 2 { v = String(v.dropFirst().dropLast()) }
            vars[String(line[..<eq])] = v
        }
        var h = SHA256()
        func add(_ s: String) { h.update(data: Data((s + "\n").utf8)) }
        add("ingot-apt-fingerprint-v1")
        if let conf = aptConfig ?? ProcessInfo.processInfo.environment["APT_CONFIG"] {
            add("APT_CONFIG=\(conf)")
            add(stamp(conf))
            if let data = FileManager.default.contents(atPath: conf) { h.update(data: data) }
        }
        for key in ["PF", "SL"] {
            if let f = vars[key] { add(key + " " + stamp(f)) }
        }
        for key in ["L", "P", "SP"] {
            guard let dir = vars[key] else { continue }
            let names = ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).sorted()
            for n in names where n != "lock" && n != "partial" && n != "auxfiles" {
                add(key + " " + stamp(dir + "/" + n))
            }
        }
        return h.finalize().map { String(format: "%02x", $0) }.joined()
    }

    /// `path size mtime` of a file, or `path -` when it is absent.
    private func stamp(_ path: String) -> String {
        var st = stat()
        guard stat(path, &st) == 0 else { return "\(path) -" }
        return "\(path) \(st.st_size) \(st.st_mtim.tv_sec).\(st.st_mtim.tv_nsec)"
    }
}
