// The matrix file (`ingot matrix --matrix FILE.yml`): which boards, formats, backends and hosts
// a run covers, with retries and per-host limits. Read strictly: unknown keys, wrong types and
// bad values are errors that name file:line:column and say what to write instead.
//
//   boards: [x86_64-efi, arm64-efi]      # or: all
//   formats: [kernel+initrd, raw]
//   backends: [qemu]                     # qemu, libvirt
//   retries: 1
//   hosts:
//     - uri: local                       # the embedded QEMU backend
//       jobs: 2
//       memory: 4096                     # MiB of guest memory at once
//     - uri: qemu+ssh://ci2/system       # a libvirt daemon
//       jobs: 4

import Foundation
import IngotSpec
import Yams
import IngotContract

/// A parsed matrix file.
struct MatrixFile: Equatable {
    /// One host entry.
    struct Host: Equatable {
        /// `local` for the embedded QEMU backend, else a libvirt URI.
        var uri: String
        /// Cells at once (nil: the default for the backend).
        var jobs: Int?
        /// Guest memory budget in MiB (nil: the default).
        var memoryMiB: Int?
    }

    var boards: [String] = []
    var formats: [String] = []
    var backends: [String] = []
    var hosts: [Host] = []
    var retries: Int?

    static let keys = ["boards", "formats", "backends", "hosts", "retries"]
    static let hostKeys = ["uri", "jobs", "memory"]
    static let backendNames = ["qemu", "libvirt"]
    static let formatNames = ["raw", "qcow2", "iso", "kernel+initrd"]

    /// Loads and checks `path`.
    static func load(path: String) throws -> MatrixFile {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw SpecError(SourceLocation(file: path, line: 1, column: 1), "cannot read the matrix file", hint: "check the path")
        }
        return try parse(text, file: path)
    }

    /// Parses matrix YAML; `file` names the source in errors.
    static func parse(_ text: String, file: String) throws -> MatrixFile {
        func at(_ node: Node?) -> SourceLocation {
            SourceLocation(file: file, line: node?.mark?.line ?? 1, column: node?.mark?.column ?? 1)
        }
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch {
            throw SpecError(at(nil), "malformed YAML: \(error)", hint: "fix the YAML syntax")
        }
        guard let root, case .mapping(let mapping) = root else {
            throw SpecError(at(root), "a matrix file is a mapping with keys \(keys.joined(separator: ", "))")
        }
        var result = MatrixFile()
        for (keyNode, value) in mapping {
            let key = keyNode.string ?? ""
            switch key {
            case "boards":
                result.boards = try words(value, key: key, at: at)
            case "formats":
                result.formats = try words(value, key: key, at: at)
                for (index, name) in result.formats.enumerated() where !formatNames.contains(name) {
                    throw SpecError(
                        at(element(value, index)), "unknown format '\(name)'",
                        hint: "formats are \(formatNames.joined(separator: ", "))" + hint(name, formatNames))
                }
            case "backends":
                result.backends = try words(value, key: key, at: at)
                for (index, name) in result.backends.enumerated() where !backendNames.contains(name) {
                    throw SpecError(at(element(value, index)), "unknown backend '\(name)'", hint: "backends are qemu and libvirt" + hint(name, backendNames))
                }
            case "retries":
                result.retries = try number(value, key: key, at: at, range: 0...10)
            case "hosts":
                guard case .sequence(let entries) = value else {
                    throw SpecError(at(value), "'hosts' must be a list of mappings with 'uri', 'jobs', 'memory'")
                }
                for entry in entries {
                    guard case .mapping(let fields) = entry else {
                        throw SpecError(at(entry), "a host entry must be a mapping such as '{uri: local, jobs: 2}'")
                    }
                    var host = Host(uri: "")
                    for (fieldKey, fieldValue) in fields {
                        switch fieldKey.string ?? "" {
                        case "uri":
                            guard let uri = fieldValue.scalar?.string, !uri.isEmpty else {
                                throw SpecError(at(fieldValue), "'uri' must be 'local' or a libvirt URI such as qemu:///system")
                            }
                            host.uri = uri
                        case "jobs": host.jobs = try number(fieldValue, key: "jobs", at: at, range: 1...256)
                        case "memory": host.memoryMiB = try number(fieldValue, key: "memory", at: at, range: 64...16_777_216)
                        default:
                            let name = fieldKey.string ?? "?"
                            throw SpecError(at(fieldKey), "unknown host key '\(name)'", hint: "host keys are uri, jobs, memory" + hint(name, hostKeys))
                        }
                    }
                    if host.uri.isEmpty { throw SpecError(at(entry), "host entry without 'uri'", hint: "add 'uri: local' or a libvirt URI") }
                    result.hosts.append(host)
                }
            default:
                throw SpecError(at(keyNode), "unknown key '\(key)'", hint: "matrix keys are \(keys.joined(separator: ", "))" + hint(key, keys))
            }
        }
        return result
    }

    /// A list of plain words, or one word (`boards: all`).
    private static func words(_ node: Node, key: String, at: (Node?) -> SourceLocation) throws -> [String] {
        switch node {
        case .scalar(let scalar):
            return scalar.string.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        case .sequence(let items):
            return try items.map { item in
                guard let word = item.scalar?.string, !word.isEmpty else {
                    throw SpecError(at(item), "every '\(key)' entry must be a plain name")
                }
                return word
            }
        default:
            throw SpecError(at(node), "'\(key)' must be a list of names")
        }
    }

    private static func number(_ node: Node, key: String, at: (Node?) -> SourceLocation, range: ClosedRange<Int>) throws -> Int {
        guard let text = node.scalar?.string, let value = Int(text), range.contains(value) else {
            throw SpecError(at(node), "'\(key)' must be a whole number from \(range.lowerBound) to \(range.upperBound)")
        }
        return value
    }

    private static func element(_ node: Node, _ index: Int) -> Node? {
        if case .sequence(let items) = node, index < items.count { return items[index] }
        return node
    }

    private static func hint(_ word: String, _ candidates: [String]) -> String {
        suggestion(for: word, among: candidates).map { "; did you mean '\($0)'?" } ?? ""
    }
}
