// SpecLoader: reads an appliance spec YAML into an ApplianceSpec with strict validation —
// unknown keys, wrong types, unsupported LinuxKit fields and bad values are all errors that point
// at file:line:column. Services and files live in SpecLoader+Entries.swift.

import Foundation
import Yams

/// Loads and validates appliance specs (what `ingot validate` runs).
public enum SpecLoader {
    static let topLevelKeys = [
        "name", "hostname", "kernel", "init", "onboot", "onshutdown", "services", "files", "readiness", "data",
        "boot",
    ]
    static let unsupportedTopLevel = [
        "trust":
            "image signature trust is not implemented; Ingot pins Debian packages by sha256 in the firmware/ lock instead — remove 'trust'",
        "volumes":
            "LinuxKit volumes are not implemented; use 'data' for persistent state and 'binds' to share it — remove 'volumes'",
    ]
    static let kernelKeys = ["package", "image", "cmdline"]
    static let unsupportedKernel = [
        "binary": "Ingot takes the kernel from boot/vmlinuz-* of the package or image — remove 'binary'",
        "tar": "Ingot takes modules from lib/modules/* of the package or image — remove 'tar'",
        "ucode": "CPU microcode images are not supported — remove 'ucode'",
    ]

    /// Reads and validates the spec at `path`; relative paths in it resolve against its directory.
    /// - Parameter path: The YAML file (relative paths resolve against the current directory).
    /// - Returns: The validated spec.
    /// - Throws: `SpecError`.
    public static func load(path: String) throws -> ApplianceSpec {
        let absolute = PathRules.resolve(path, against: FileManager.default.currentDirectoryPath)
        let text: String
        do {
            text = try String(contentsOfFile: absolute, encoding: .utf8)
        } catch {
            throw SpecError(
                SourceLocation(file: path, line: 1, column: 1), "cannot read the spec file",
                hint: "check that '\(absolute)' exists, is readable and is UTF-8 text")
        }
        var directory = absolute
        if let slash = directory.lastIndex(of: "/") { directory = String(directory[..<slash]) }
        var spec = try parse(yaml: text, file: path, baseDirectory: directory.isEmpty ? "/" : directory)
        spec.sourcePath = absolute
        return spec
    }

    /// Parses and validates spec text.
    /// - Parameters:
    ///   - yaml: The YAML text.
    ///   - file: The file name used in locations (and as `sourcePath`, made absolute).
    ///   - baseDirectory: Relative paths in the spec resolve against this directory.
    ///   - checkSources: Check that local files and image paths exist.
    /// - Returns: The validated spec.
    /// - Throws: `SpecError`.
    public static func parse(
        yaml: String, file: String, baseDirectory: String, checkSources: Bool = true
    ) throws -> ApplianceSpec {
        let base = PathRules.resolve(baseDirectory, against: FileManager.default.currentDirectoryPath)
        let document = YAMLDocument(file: file)
        guard let root = try document.compose(yaml) else {
            throw SpecError(
                SourceLocation(file: file, line: 1, column: 1), "the spec is empty",
                hint: "start with 'name: myappliance' and an 'init:' list")
        }
        let top = try MappingReader(root, context: "the top level", name: "the spec", document: document)
        try top.checkKeys(allowed: topLevelKeys, unsupported: unsupportedTopLevel)
        let reader = EntryReader(document: document, baseDirectory: base, checkSources: checkSources)

        // LinuxKit has no `name`: its outputs are named after the file (SpecLoader+LinuxKit.swift).
        let name = try top.string("name") ?? defaultName(forFile: file)
        if top.has("name") { try checkLabel(name, field: "name", at: top.location("name")) }
        let hostname = try top.string("hostname") ?? name
        if top.has("hostname") { try checkLabel(hostname, field: "hostname", at: top.location("hostname")) }

        var kernel: KernelSpec?
        if let section = try top.mapping("kernel", context: "'kernel'") {
            try section.checkKeys(allowed: kernelKeys, unsupported: unsupportedKernel)
            let package = try section.string("package")
            if let package, !PathRules.isDebianPackageName(package) {
                throw SpecError(
                    section.location("package"), "'\(package)' is not a valid Debian package name",
                    hint: "write a package such as linux-image-amd64")
            }
            let image = try section.value("image").map { try reader.image($0, name: "'image'") }
            if package != nil, image != nil {
                throw SpecError(
                    section.location("image"), "'kernel' has both 'package' and 'image'",
                    hint: "keep one: 'package' for a Debian kernel, 'image' for a kernel from an image")
            }
            let cmdline = try section.string("cmdline") ?? ""
            if let problem = TextRules.commandLineProblem(cmdline) {
                throw SpecError(
                    section.location("cmdline"), "'cmdline' '\(TextRules.display(cmdline))' \(problem)",
                    hint: "write kernel arguments on one line, separated by spaces, with balanced double quotes "
                        + "(e.g. cmdline: \"quiet loglevel=3\")")
            }
            kernel = KernelSpec(
                package: package, image: image, cmdline: cmdline, location: document.location(section.node))
        }

        let initImages = try (top.list("init") ?? []).map { try reader.image($0, name: "each 'init' entry") }
        let onboot = try reader.services(top.list("onboot") ?? [], section: "onboot")
        let onshutdown = try reader.services(top.list("onshutdown") ?? [], section: "onshutdown")
        let services = try reader.services(top.list("services") ?? [], section: "services")
        try checkUniqueNames(onboot: onboot, onshutdown: onshutdown, services: services)
        let files = try reader.files(top.list("files") ?? [])
        let boot = try boot(top.mapping("boot", context: "'boot'"), services: onboot + services + onshutdown)

        return ApplianceSpec(
            name: name, hostname: hostname, kernel: kernel, initImages: initImages,
            onboot: onboot, onshutdown: onshutdown, services: services, files: files,
            readiness: try readiness(top.mapping("readiness", context: "'readiness'")),
            data: try data(top.mapping("data", context: "'data'")),
            boot: boot, sourcePath: PathRules.resolve(file, against: FileManager.default.currentDirectoryPath),
            baseDirectory: base)
    }

    static func checkLabel(_ value: String, field: String, at location: SourceLocation) throws {
        guard PathRules.isHostnameLabel(value) else {
            throw SpecError(
                location, "\(field) '\(TextRules.display(value))' is not a valid hostname label",
                hint: "use 1-63 ASCII letters, digits and '-', not starting or ending with '-' (e.g. 'hello-1')")
        }
    }

    static func checkUniqueNames(onboot: [ServiceSpec], onshutdown: [ServiceSpec], services: [ServiceSpec]) throws {
        var seen: [String: (section: String, location: SourceLocation)] = [:]
        for (section, entries) in [("onboot", onboot), ("services", services), ("onshutdown", onshutdown)] {
            for entry in entries {
                if let first = seen[entry.name] {
                    throw SpecError(
                        entry.location,
                        "duplicate name '\(entry.name)' in '\(section)'; first defined in '\(first.section)' at \(first.location)",
                        hint: "names must be unique across onboot, services and onshutdown; rename one of them")
                }
                seen[entry.name] = (section, entry.location)
            }
        }
    }

    static func readiness(_ section: MappingReader?) throws -> Readiness {
        guard let section else { return Readiness() }
        try section.checkKeys(allowed: readinessKeys)
        var result = Readiness()
        result.http = try httpProbe(section)
        result.tcp = try tcpProbe(section)
        if let pattern = try section.string("pattern") {
            try checkRegex(pattern, at: section.location("pattern"))
            result.pattern = pattern
        }
        if let node = section.value("timeout") {
            guard let seconds = durationSeconds(node), seconds > 0 else {
                throw SpecError(
                    section.location("timeout"),
                    "'timeout' must be a positive duration, found '\(node.string ?? YAMLDocument.kind(of: node))'",
                    hint: "write seconds (120) or a duration with a unit (90s, 2m)")
            }
            result.timeoutSeconds = seconds
        }
        return result
    }

    /// Seconds from `120`, `"90s"`, `"2m"`, `"1h"`.
    static func durationSeconds(_ node: Node) -> Double? {
        guard case .scalar(let scalar) = node else { return nil }
        var text = scalar.string.trimmingWhitespace()
        var factor = 1.0
        if let last = text.last, last.isLetter {
            switch last {
            case "s": factor = 1
            case "m": factor = 60
            case "h": factor = 3600
            default: return nil
            }
            text.removeLast()
        }
        guard let value = Double(text), value.isFinite else { return nil }
        return value * factor
    }

    static func checkRegex(_ pattern: String, at location: SourceLocation) throws {
        do {
            _ = try NSRegularExpression(pattern: pattern)
        } catch {
            throw SpecError(
                location, "'\(pattern)' is not a valid regular expression",
                hint: "escape special characters such as ( [ . with a backslash (ICU syntax)")
        }
    }

    static func data(_ section: MappingReader?) throws -> DataSpec? {
        guard let section else { return nil }
        try section.checkKeys(allowed: ["mount", "size", "filesystem", "grow"])
        let mount = try section.requiredString("mount", hint: "add 'mount: /var/lib/NAME'")
        if let problem = TextRules.mountPointProblem(mount) {
            throw SpecError(
                section.location("mount"), "'mount' '\(TextRules.display(mount))' \(problem)",
                hint: "write an absolute directory such as /var/lib/myapp")
        }
        guard mount.hasPrefix("/"), let normalised = PathRules.imagePath(mount) else {
            throw SpecError(
                section.location("mount"), "'mount' must be an absolute path other than '/', found '\(mount)'",
                hint: "write an absolute directory such as /var/lib/myapp")
        }
        let sizeText = try section.requiredString("size", hint: "add 'size: 64M'")
        guard let size = parseByteSize(sizeText), size >= 1 << 20 else {
            throw SpecError(
                section.location("size"),
                "'size' must be a size of at least 1M, found '\(TextRules.display(sizeText))'",
                hint: "write a number with a binary unit: 64M, 512M, 1G")
        }
        guard size <= DataSpec.maximumSize else {
            throw SpecError(
                section.location("size"),
                "'size' \(sizeText) is \(size) bytes, more than the \(DataSpec.maximumSize >> 40)T Ingot can lay out",
                hint: "write a size of at most \(DataSpec.maximumSize >> 40)T; images are sparse, so a size well "
                    + "below the target device's is usually what you want (the data partition can be grown on the device)"
            )
        }
        let filesystem = try section.string("filesystem") ?? "ext4"
        guard filesystem == "ext4" else {
            throw SpecError(
                section.location("filesystem"), "data filesystem '\(filesystem)' is not supported",
                hint: "only 'ext4' is supported; remove 'filesystem' or write ext4")
        }
        return DataSpec(
            mount: "/" + normalised, size: size, filesystem: filesystem, grow: try section.bool("grow") ?? true,
            location: section.location("size"))
    }
}
