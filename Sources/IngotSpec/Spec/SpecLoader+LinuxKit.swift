// LinuxKit compatibility of the spec loader: a spec without `name` is named after its file (as
// LinuxKit names its outputs), `binds.add` appends binds, and `capabilities` is accepted where
// Ingot's behaviour is LinuxKit's meaning (`all`). Every other LinuxKit field is either honoured
// by the main loader or refused there with a message naming it; the README lists both sets.

import Foundation
import Yams

extension SpecLoader {
    /// The appliance name LinuxKit would use for `file`: its base name without `.yml`/`.yaml`,
    /// made a hostname label (other characters become `-`, at most 63 characters).
    /// - Parameter file: The spec file's path as given.
    /// - Returns: e.g. `node-exporter` for `examples/node_exporter.yml`; `appliance` if nothing is left.
    public static func defaultName(forFile file: String) -> String {
        var base = (file as NSString).lastPathComponent
        for suffix in [".yml", ".yaml"] where base.hasSuffix(suffix) {
            base.removeLast(suffix.count)
        }
        var label = String(base.map { $0.isASCII && ($0.isLetter || $0.isNumber) ? $0 : "-" })
        while label.hasPrefix("-") { label.removeFirst() }
        label = String(label.prefix(63))
        while label.hasSuffix("-") { label.removeLast() }
        return label.isEmpty ? "appliance" : label
    }
}

extension EntryReader {
    /// LinuxKit service keys Ingot accepts on top of its own.
    static let linuxKitServiceKeys = ["binds.add", "capabilities"]

    /// `binds` plus `binds.add`. LinuxKit's `binds.add` adds to the binds an image declares in its
    /// `org.mobyproject.config` label; Ingot does not read that label, so both lists are simply joined.
    func allBinds(_ named: MappingReader, context: String) throws -> (binds: [String], nodes: [Node]) {
        let binds = (try named.stringList("binds") ?? []) + (try named.stringList("binds.add") ?? [])
        let nodes = (try named.list("binds") ?? []) + (try named.list("binds.add") ?? [])
        return (binds, nodes)
    }

    /// `capabilities: [all]` (or `CAP_ALL`) is what Ingot's init gives every service; a narrower
    /// list cannot be enforced by it, so it is refused rather than silently widened.
    func checkCapabilities(_ named: MappingReader, context: String) throws {
        guard let caps = try named.stringList("capabilities") else { return }
        let all = caps.contains { ["all", "cap_all"].contains($0.lowercased()) }
        guard all else {
            throw SpecError(
                named.location("capabilities"),
                "'capabilities' in \(context) lists \(caps.prefix(3).joined(separator: ", "))\(caps.count > 3 ? ", …" : ""); "
                    + "Ingot runs every service with all capabilities and cannot drop the others",
                hint: "write 'capabilities: [all]' (what the service gets), or remove the field")
        }
    }
}

extension EntryReader {
    /// `~/x` and `~` in a `files` source mean the user's home directory, as in LinuxKit.
    static func expandingTilde(_ path: String, environment: [String: String] = ProcessInfo.processInfo.environment)
        -> String
    {
        guard path == "~" || path.hasPrefix("~/") else { return path }
        let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
        return home + path.dropFirst()
    }
}
