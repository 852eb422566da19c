// The matrix file (`ingot matrix --matrix FILE.yml`): which boards, formats, disk buses,
// backends and hosts a run covers, with retries and per-host limits. Read strictly: unknown keys,
// wrong types, bad and repeated values are errors that name file:line:column and say what to
// write instead.
//
//   boards: [x86_64-efi, arm64-efi]      # or: all
//   formats: [kernel+initrd, raw]
//   buses: all                           # or a list (virtio, ahci, nvme, usb, sd, scsi); raw/qcow2 only
//   backends: [qemu]                     # qemu, libvirt
//   retries: 1
//   hosts:
//     - uri: local                       # the embedded QEMU backend
//       jobs: 2
//       memory: 4096                     # MiB of guest memory at once
//     - uri: qemu+ssh://ci2/system       # a libvirt daemon
//       jobs: 4

import ArgumentParser
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
    var formats: [OutputFormat] = []
    var buses: BusSelection?
    var backends: [BootBackendKind] = []
    var hosts: [Host] = []
    var retries: Int?

    static let keys = ["boards", "formats", "buses", "backends", "hosts", "retries"]
    static let hostKeys = ["uri", "jobs", "memory"]
    /// The backends a matrix runs cells on (the lab backend has no matrix host).
    static let backendNames = [BootBackendKind.qemu, .libvirt].map(\.rawValue)
    /// The formats a matrix boots (tar cannot be booted).
    static let formatNames = OutputFormat.allCases.filter(\.isBootable).map(\.rawValue)

    /// Loads and checks `path`.
    static func load(path: String) throws -> MatrixFile {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw SpecError(
                SourceLocation(file: path, line: 1, column: 1), "cannot read the matrix file", hint: "check the path")
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
                try refuseRepeats(result.boards, value, key: key, at: at)
            case "formats":
                let names = try words(value, key: key, at: at)
                try refuseRepeats(names, value, key: key, at: at)
                for (index, name) in names.enumerated() where !formatNames.contains(name) {
                    throw SpecError(
                        at(element(value, index)), "unknown format '\(name)'",
                        hint: "formats are \(formatNames.joined(separator: ", "))" + hint(name, formatNames))
                }
                result.formats = names.compactMap(OutputFormat.init(rawValue:))
            case "buses":
                let names = try words(value, key: key, at: at)
                try refuseRepeats(names, value, key: key, at: at)
                if names == ["all"] {
                    result.buses = .all
                } else {
                    let valid = DiskBus.allCases.map(\.rawValue)
                    for (index, name) in names.enumerated() where DiskBus(rawValue: name) == nil {
                        throw SpecError(
                            at(element(value, index)), "unknown bus '\(name)'",
                            hint: "buses are all or \(valid.joined(separator: ", "))" + hint(name, valid))
                    }
                    result.buses = .listed(names.compactMap(DiskBus.init(rawValue:)))
                }
            case "backends":
                let names = try words(value, key: key, at: at)
                try refuseRepeats(names, value, key: key, at: at)
                for (index, name) in names.enumerated() where !backendNames.contains(name) {
                    throw SpecError(
                        at(element(value, index)), "unknown backend '\(name)'",
                        hint: "backends are qemu and libvirt" + hint(name, backendNames))
                }
                result.backends = names.compactMap(BootBackendKind.init(rawValue:))
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
                            guard let uri = fieldValue.scalar?.string, HostSpec.kind(of: uri) != nil else {
                                throw SpecError(
                                    at(fieldValue),
                                    "'uri' must be 'local' or a libvirt URI such as qemu:///system or qemu+ssh://HOST/system"
                                )
                            }
                            host.uri = uri
                        case "jobs": host.jobs = try number(fieldValue, key: "jobs", at: at, range: 1...256)
                        case "memory":
                            host.memoryMiB = try number(fieldValue, key: "memory", at: at, range: 64...16_777_216)
                        default:
                            let name = fieldKey.string ?? "?"
                            throw SpecError(
                                at(fieldKey), "unknown host key '\(name)'",
                                hint: "host keys are uri, jobs, memory" + hint(name, hostKeys))
                        }
                    }
                    if host.uri.isEmpty {
                        throw SpecError(
                            at(entry), "host entry without 'uri'", hint: "add 'uri: local' or a libvirt URI")
                    }
                    result.hosts.append(host)
                }
            default:
                throw SpecError(
                    at(keyNode), "unknown key '\(key)'",
                    hint: "matrix keys are \(keys.joined(separator: ", "))" + hint(key, keys))
            }
        }
        return result
    }

    /// Refuses a list that names something twice (it would make duplicate cells).
    private static func refuseRepeats(_ names: [String], _ node: Node, key: String, at: (Node?) -> SourceLocation)
        throws
    {
        var seen: Set<String> = []
        for (index, name) in names.enumerated() where !seen.insert(name).inserted {
            throw SpecError(at(element(node, index)), "'\(name)' is listed twice in '\(key)'", hint: "name each once")
        }
    }

    /// A list of plain words, or one word (`boards: all`).
    private static func words(_ node: Node, key: String, at: (Node?) -> SourceLocation) throws -> [String] {
        switch node {
        case .scalar(let scalar):
            let names = scalar.string.split(separator: ",", omittingEmptySubsequences: false).map {
                $0.trimmingCharacters(in: .whitespaces)
            }
            guard !names.contains(where: \.isEmpty) else {
                throw SpecError(at(node), "'\(key)' has an empty name", hint: "write a list such as [a, b]")
            }
            return names
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

    private static func number(_ node: Node, key: String, at: (Node?) -> SourceLocation, range: ClosedRange<Int>) throws
        -> Int
    {
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

/// Which disk buses the matrix boots disk formats on.
enum BusSelection: Equatable {
    /// Each board's first bus (its default).
    case boardDefault
    /// Every bus each board lists.
    case all
    /// These buses, on the boards that have them (a board without one gets a skipped cell).
    case listed([DiskBus])

    /// Parses `--bus`: `all` or a comma list of buses.
    static func parse(_ text: String) throws -> BusSelection {
        if text.trimmingCharacters(in: .whitespaces) == "all" { return .all }
        return .listed(try parseOption(text, option: "--bus", as: DiskBus.self))
    }

    /// The buses of `board` the matrix boots, each with why it is skipped when the board lacks it.
    func buses(for board: BoardProfile) -> [(bus: DiskBus, missing: String?)] {
        let have = board.emulation.buses
        switch self {
        case .boardDefault: return [(board.emulation.diskInterface, nil)]
        case .all: return have.map { ($0, nil) }
        case .listed(let wanted):
            return wanted.map { bus in
                (
                    bus,
                    have.contains(bus)
                        ? nil
                        : "board \(board.name) has no \(bus) bus (its buses: \(have.map(\.rawValue).joined(separator: ", ")))"
                )
            }
        }
    }
}

/// A host cells run on: `local` (this machine's QEMU) or a libvirt daemon by URI.
struct HostSpec {
    var kind: BootBackendKind
    var uri: String
    var jobs: Int?
    var memoryMiB: Int?

    /// The backend a host string names: `local` is QEMU, a libvirt URI (`qemu:///system`,
    /// `qemu+ssh://HOST/system`, `test:///default`) is libvirt; anything else is nil.
    static func kind(of uri: String) -> BootBackendKind? {
        if uri == "local" { return .qemu }
        guard let colon = uri.range(of: "://"), colon.lowerBound > uri.startIndex else { return nil }
        let scheme = uri[..<colon.lowerBound]
        let driver = scheme.split(separator: "+", maxSplits: 1).first.map(String.init) ?? ""
        return ["qemu", "test", "kvm"].contains(driver) ? .libvirt : nil
    }

    /// Parses `--host`.
    static func parse(_ text: String) throws -> HostSpec {
        guard let kind = kind(of: text) else {
            throw ValidationError(
                "--host \(text): not 'local' (this machine's QEMU) and not a libvirt URI such as qemu:///system or qemu+ssh://HOST/system"
            )
        }
        return HostSpec(kind: kind, uri: text)
    }
}
