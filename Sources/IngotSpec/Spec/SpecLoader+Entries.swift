// The list entries of a spec: image references, onboot/onshutdown/services entries and `files`,
// including the checks against the host (source files and local image paths exist).

import Foundation
import Yams

/// Reads entries of one spec; carries the document, the base directory and whether to touch the host.
struct EntryReader {
    let document: YAMLDocument
    let baseDirectory: String
    let checkSources: Bool

    static let serviceKeys =
        ["name", "image", "command", "env", "cwd", "net", "pid", "ipc", "uts", "binds"]
        + linuxKitServiceKeys
    static let unsupportedService: [String: String] = {
        var table: [String: String] = [:]
        let generic =
            "Ingot's generated init does not implement it; remove it (services run as root in a chroot with the listed namespaces)"
        for key in [
            "ambient", "mounts", "tmpfs", "userns", "hostname", "readonly",
            "maskedPaths", "readonlyPaths", "uid", "gid", "additionalGids", "noNewPrivileges", "oomScoreAdj",
            "rootfsPropagation", "cgroupsPath", "resources", "sysctl", "rlimits", "runtime", "annotations",
            "devices",
        ] {
            table[key] = generic
        }
        table["runtime"] =
            "Ingot has no container runtime hooks (mkdir/interfaces/bindNS); do the setup in an onboot step instead"
        table["sysctl"] = "set sysctls from an onboot step (e.g. command: [sysctl, -w, key=value]) instead"
        return table
    }()
    static let fileKeys = ["path", "directory", "symlink", "contents", "source", "mode", "uid", "gid", "optional"]
    static let unsupportedFile = [
        "metadata": "LinuxKit's 'metadata: yaml' is not implemented; write the file with 'contents' instead"
    ]

    /// An image reference node: a string with a scheme; local paths must exist when checking sources.
    func image(_ node: Node, name: String) throws -> ImageSpec {
        let raw = try document.string(node, name: name)
        let location = document.location(node)
        let ref = try ImageRef.parse(raw, baseDirectory: baseDirectory, location: location)
        if checkSources, let path = ref.localPath {
            let wantsDirectory: Bool
            switch ref {
            case .ociLayout, .directory: wantsDirectory = true
            default: wantsDirectory = false
            }
            switch HostFile.kind(of: path) {
            case .missing(let why):
                throw SpecError(
                    location, "image path '\(path)' \(why)",
                    hint: why.contains("symlink loop")
                        ? "point the link at a real \(wantsDirectory ? "directory" : "file")"
                        : "create it or fix the path (relative paths resolve against \(baseDirectory))")
            case .special(let what):
                throw SpecError(
                    location, "image path '\(path)' is \(what)",
                    hint: wantsDirectory ? "this scheme needs a directory" : "this scheme needs a regular file")
            case .directory where !wantsDirectory:
                throw SpecError(location, "image path '\(path)' is a directory", hint: "this scheme needs a file")
            case .regular where wantsDirectory:
                throw SpecError(location, "image path '\(path)' is a file", hint: "this scheme needs a directory")
            case .directory, .regular:
                break
            }
        }
        return ImageSpec(ref: ref, raw: raw, location: location)
    }

    func services(_ nodes: [Node], section: String) throws -> [ServiceSpec] {
        try nodes.enumerated().map { index, node in
            try service(node, section: section, index: index)
        }
    }

    func service(_ node: Node, section: String, index: Int) throws -> ServiceSpec {
        let entry = try MappingReader(
            node, context: "'\(section)' entry \(index + 1)", name: "each '\(section)' entry", document: document)
        let name = try entry.requiredString("name", hint: "give every \(section) entry a 'name'")
        let context = "\(section) entry '\(name)'"
        let named = try MappingReader(node, context: context, name: context, document: document)
        try named.checkKeys(allowed: Self.serviceKeys, unsupported: Self.unsupportedService)
        guard PathRules.isServiceName(name) else {
            throw SpecError(
                named.location("name"), "'\(name)' is not a valid service name",
                hint: "use up to 63 letters, digits, '-', '_' or '.', starting with a letter or digit")
        }
        guard let imageNode = named.value("image") else {
            throw named.missing("image", hint: "add 'image: deb:busybox-static' or another accepted image")
        }
        let env = try named.stringList("env") ?? []
        for (offset, item) in env.enumerated() where !item.contains("=") || item.hasPrefix("=") {
            let location = (try? named.list("env")).flatMap { $0.count > offset ? document.location($0[offset]) : nil }
            throw SpecError(
                location ?? named.location("env"), "env entry '\(item)' in \(context) is not KEY=VALUE",
                hint: "write it as NAME=value")
        }
        try checkCapabilities(named, context: context)
        let (binds, bindNodes) = try allBinds(named, context: context)
        for (offset, bind) in binds.enumerated() {
            let parts = bind.split(separator: ":", omittingEmptySubsequences: false)
            let valid =
                (parts.count == 2 || parts.count == 3) && !parts[0].isEmpty && parts[1].hasPrefix("/")
                && (parts.count == 2 || ["ro", "rw"].contains(parts[2]))
            if !valid {
                throw SpecError(
                    document.location(bindNodes[offset]), "bind '\(bind)' in \(context) is malformed",
                    hint: "write SRC:/DST or SRC:/DST:ro (DST absolute inside the service)")
            }
        }
        let cwd = try named.string("cwd")
        if let cwd, !cwd.hasPrefix("/") {
            throw SpecError(
                named.location("cwd"), "'cwd' must be an absolute path, found '\(cwd)'", hint: "write e.g. /www")
        }
        func namespace(_ key: String) throws -> NamespaceMode {
            guard let value = try named.string(key) else { return .new }
            guard let mode = NamespaceMode(rawValue: value) else {
                throw SpecError(
                    named.location(key), "'\(key)' must be 'host' or 'new', found '\(value)'",
                    hint: "namespace paths (/run/netns/...) are not supported; use 'host' to share the host's")
            }
            return mode
        }
        return ServiceSpec(
            name: name, image: try image(imageNode, name: "'image'"), command: try named.stringList("command") ?? [],
            env: env, cwd: cwd, net: try namespace("net"), pid: try namespace("pid"), ipc: try namespace("ipc"),
            uts: try namespace("uts"), binds: binds, location: document.location(node))
    }

    func files(_ nodes: [Node]) throws -> [FileSpec] {
        var seen: [String: SourceLocation] = [:]
        return try nodes.enumerated().map { index, node in
            let file = try self.file(node, index: index)
            if let first = seen[file.path] {
                throw SpecError(
                    file.location, "file '\(file.path)' is listed twice; first at \(first)",
                    hint: "keep one entry per path")
            }
            seen[file.path] = file.location
            return file
        }
    }

    func file(_ node: Node, index: Int) throws -> FileSpec {
        let entry = try MappingReader(
            node, context: "'files' entry \(index + 1)", name: "each 'files' entry", document: document)
        try entry.checkKeys(allowed: Self.fileKeys, unsupported: Self.unsupportedFile)
        let rawPath = try entry.requiredString("path", hint: "add 'path: etc/NAME' (a path inside the image)")
        if let problem = TextRules.pathProblem(rawPath) {
            throw SpecError(
                entry.location("path"), "file path '\(TextRules.display(rawPath))' \(problem)",
                hint:
                    "write a path of plain file names of at most \(TextRules.maxNameBytes) bytes each, such as etc/motd"
            )
        }
        guard let path = PathRules.imagePath(rawPath) else {
            throw SpecError(
                entry.location("path"), "file path '\(TextRules.display(rawPath))' escapes the image root or is empty",
                hint: "write a path inside the image without '..', such as etc/motd")
        }
        let context = "file '\(TextRules.display(rawPath))'"
        let directory = try entry.bool("directory") ?? false
        let symlink = try entry.string("symlink")
        if let symlink, symlink.isEmpty || symlink.utf8.contains(0) || symlink.utf8.count > TextRules.maxPathBytes {
            throw SpecError(
                entry.location("symlink"),
                "symlink target '\(TextRules.display(symlink))' of \(context) is empty, holds a NUL or is too long",
                hint: "write a target path of at most \(TextRules.maxPathBytes) bytes without NUL characters")
        }
        let contents = try entry.string("contents")
        let sourceText = try entry.string("source")
        let optional = try entry.bool("optional") ?? false
        let given = [
            ("contents", contents != nil), ("source", sourceText != nil), ("symlink", symlink != nil),
            ("directory", directory),
        ]
        .filter(\.1).map(\.0)
        guard given.count == 1 else {
            let what = given.isEmpty ? "none of them" : given.map { "'\($0)'" }.joined(separator: " and ")
            throw SpecError(
                document.location(node),
                "\(context) needs exactly one of contents, source, symlink or directory; found \(what)",
                hint: "keep a single one of 'contents', 'source', 'symlink' or 'directory: true'")
        }
        var source: String?
        if let sourceText {
            guard !sourceText.isEmpty, !sourceText.utf8.contains(0) else {
                throw SpecError(
                    entry.location("source"),
                    "source '\(TextRules.display(sourceText))' of \(context) is empty or holds a NUL",
                    hint: "name a host file, relative to \(baseDirectory) or absolute")
            }
            let resolved = PathRules.resolve(Self.expandingTilde(sourceText), against: baseDirectory)
            if checkSources {
                switch HostFile.kind(of: resolved) {
                case .regular:
                    break
                case .missing(let why):
                    if !optional {
                        throw SpecError(
                            entry.location("source"), "source '\(resolved)' of \(context) \(why)",
                            hint: "create it, fix the path (relative to \(baseDirectory)) or add 'optional: true'")
                    }
                case .directory:
                    throw SpecError(
                        entry.location("source"), "source '\(resolved)' of \(context) is a directory",
                        hint: "name a file; to add a directory tree use an image 'dir:' in 'init'")
                case .special(let what):
                    throw SpecError(
                        entry.location("source"), "source '\(resolved)' of \(context) is \(what), not a regular file",
                        hint: "name a regular file (devices, FIFOs and sockets have no fixed contents to copy); "
                            + "to create a device node in the image, add it to an image layer")
                }
            }
            source = resolved
        }
        return FileSpec(
            path: path, directory: directory, symlink: symlink, contents: contents, source: source,
            mode: try mode(entry), uid: try id(entry, "uid"), gid: try id(entry, "gid"), optional: optional,
            location: document.location(node))
    }

    /// `mode: "0644"` (string: always octal), `mode: 0644` (plain, leading 0: octal, as in YAML 1.1)
    /// or `mode: 420` (plain decimal).
    func mode(_ entry: MappingReader) throws -> UInt32? {
        guard let node = entry.value("mode") else { return nil }
        guard case .scalar(let scalar) = node else {
            throw SpecError(
                entry.location("mode"),
                "'mode' must be an octal string such as \"0644\", found \(YAMLDocument.kind(of: node))",
                hint: "write mode: \"0644\"")
        }
        var text = scalar.string.trimmingWhitespace()
        let octal = scalar.style != .plain || text.hasPrefix("0")
        if text.hasPrefix("0o") { text.removeFirst(2) }
        let value = octal ? UInt32(text, radix: 8) : UInt32(text)
        guard let value, value <= 0o7777 else {
            throw SpecError(
                entry.location("mode"), "'mode' \(scalar.string) is not a permission mode",
                hint: "write an octal string between \"0000\" and \"7777\", e.g. \"0644\"")
        }
        return value
    }

    func id(_ entry: MappingReader, _ key: String) throws -> UInt32 {
        guard let node = entry.value(key) else { return 0 }
        guard case .scalar(let scalar) = node, let value = UInt32(scalar.string.trimmingWhitespace()) else {
            throw SpecError(
                entry.location(key),
                "'\(key)' must be a numeric id, found '\(node.string ?? YAMLDocument.kind(of: node))'",
                hint: "user and group names are not resolved; write a number such as 0 or 1000")
        }
        return value
    }
}
