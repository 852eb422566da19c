// BoardReader: the strict YAML → BoardProfile mapping for one boards/*.yml file, plus the
// cross-field checks (firmware vs arch, u-boot-kernel needs ubootPath and dtb, ...).

import Foundation
import Yams
import IngotContract

enum BoardReader {
    static let topKeys = [
        "name", "summary", "arch", "kernelPackage", "console", "cmdline", "initramfsModules", "dtbs", "packages",
        "bootloader", "partitionTable", "layout", "emulation", "stages", "failurePatterns", "networkModules",
    ]
    static let emulationKeys = [
        "binary", "machine", "cpu", "memoryMiB", "smp", "firmware", "buses", "extraArgs", "minimumQEMU",
        "ubootPath", "dtb", "powersOff", "diskSizePowerOfTwo", "dtbEdits", "nic", "nicMissing",
    ]
    static let layoutKeys = ["firstPartitionOffsetMiB", "bootPartitionMiB", "rootB"]

    static func parse(yaml: String, file: String, name fileName: String) throws -> BoardProfile {
        let document = YAMLDocument(file: file)
        guard let root = try document.compose(yaml) else {
            throw SpecError(
                SourceLocation(file: file, line: 1, column: 1), "the board profile is empty",
                hint: "copy an existing boards/*.yml and adapt it")
        }
        let top = try MappingReader(root, context: "the board profile", name: "the board profile", document: document)
        try top.checkKeys(allowed: topKeys)
        let name = try top.string("name") ?? fileName
        guard name == fileName else {
            throw SpecError(
                top.location("name"), "board name '\(name)' does not match its file name '\(fileName).yml'",
                hint: "rename the file or set 'name: \(fileName)'")
        }
        func required(_ key: String) throws -> String {
            try top.requiredString(key, hint: "every board profile needs '\(key)'")
        }
        let arch: Architecture = try choice(top, "arch", required: true) ?? .amd64
        let kernelPackage = try required("kernelPackage")
        guard PathRules.isDebianPackageName(kernelPackage) else {
            throw SpecError(
                top.location("kernelPackage"), "'\(kernelPackage)' is not a valid Debian package name",
                hint: "write e.g. linux-image-\(arch.rawValue)")
        }
        let packages = try top.stringList("packages") ?? []
        if let index = packages.firstIndex(where: { !PathRules.isDebianPackageName($0) }),
            let nodes = try top.list("packages")
        {
            throw SpecError(
                document.location(nodes[index]), "'\(packages[index])' is not a valid Debian package name",
                hint: "write plain package names such as systemd-boot-efi")
        }
        let failurePatterns = try top.stringList("failurePatterns") ?? []
        if let nodes = try top.list("failurePatterns") {
            for (pattern, node) in zip(failurePatterns, nodes) {
                try SpecLoader.checkRegex(pattern, at: document.location(node))
            }
        }
        let emulation = try readEmulation(top, document: document, arch: arch)
        let dtbs = try top.stringList("dtbs") ?? []
        if let dtb = emulation.dtb, !dtbs.contains(dtb) {
            throw SpecError(
                top.location("emulation"), "emulation dtb '\(dtb)' is not in the board's 'dtbs'",
                hint: "add it to 'dtbs' so it is copied to the boot partition")
        }
        return BoardProfile(
            name: name, summary: try required("summary"), arch: arch, kernelPackage: kernelPackage,
            console: try required("console"), cmdline: try top.stringList("cmdline") ?? [],
            initramfsModules: try top.stringList("initramfsModules") ?? [], dtbs: dtbs, packages: packages,
            bootloader: try choice(top, "bootloader", required: true) ?? .syslinux,
            partitionTable: try choice(top, "partitionTable", required: true) ?? .mbr,
            layout: try readLayout(top), emulation: emulation, stages: try readStages(top, document: document),
            failurePatterns: failurePatterns, location: document.location(root),
            networkModules: try top.stringList("networkModules") ?? [])
    }

    /// An enum value with a "did you mean" for typos.
    static func choice<T: RawRepresentable & CaseIterable>(
        _ reader: MappingReader, _ key: String, required: Bool
    ) throws -> T? where T.RawValue == String {
        guard let text = try reader.string(key) else {
            if required { throw reader.missing(key, hint: "every board profile needs '\(key)'") }
            return nil
        }
        if let value = T(rawValue: text) { return value }
        let options = T.allCases.map(\.rawValue)
        let near = suggestion(for: text, among: options).map { "; did you mean '\($0)'?" } ?? ""
        throw SpecError(
            reader.location(key), "'\(text)' is not a valid '\(key)'\(near)",
            hint: "use one of: \(options.joined(separator: ", "))")
    }

    /// `buses: [virtio, ahci, ...]`: the disk buses the emulated machine can attach the image to;
    /// the first is the default. Unknown and repeated names are errors at their position.
    static func buses(_ reader: MappingReader) throws -> [DiskBus] {
        guard let names = try reader.stringList("buses") else { return [.virtio] }
        do {
            return try parseNameList(names.joined(separator: ","), option: "'buses'", as: DiskBus.self)
        } catch let error as ListError {
            throw SpecError(
                reader.location("buses"), error.description,
                hint: "list the buses QEMU emulates for this machine, default first")
        }
    }

    static func readLayout(_ top: MappingReader) throws -> LayoutDefaults {
        var layout = LayoutDefaults(firstPartitionOffsetMiB: 1, bootPartitionMiB: 64, rootB: false)
        guard let section = try top.mapping("layout", context: "'layout'") else { return layout }
        try section.checkKeys(allowed: layoutKeys)
        layout.firstPartitionOffsetMiB =
            try positive(section, "firstPartitionOffsetMiB") ?? layout.firstPartitionOffsetMiB
        layout.bootPartitionMiB = try positive(section, "bootPartitionMiB") ?? layout.bootPartitionMiB
        layout.rootB = try section.bool("rootB") ?? layout.rootB
        return layout
    }

    static func positive(_ section: MappingReader, _ key: String) throws -> Int? {
        guard let value = try section.int(key) else { return nil }
        guard value > 0 else {
            throw SpecError(
                section.location(key), "'\(key)' must be greater than zero, found \(value)",
                hint: "write a positive number")
        }
        return value
    }

    static func readEmulation(_ top: MappingReader, document: YAMLDocument, arch: Architecture) throws -> Emulation {
        guard let section = try top.mapping("emulation", context: "'emulation'") else {
            throw top.missing("emulation", hint: "describe how QEMU emulates the board (binary, machine, firmware...)")
        }
        try section.checkKeys(allowed: emulationKeys)
        let binary = try section.requiredString("binary", hint: "add 'binary: qemu-system-\(arch.qemuName)'")
        guard binary == "qemu-system-\(arch.qemuName)" else {
            throw SpecError(
                section.location("binary"), "'\(binary)' does not emulate \(arch.rawValue)",
                hint: "use qemu-system-\(arch.qemuName)")
        }
        let firmware: FirmwareKind = try choice(section, "firmware", required: true) ?? .seabios
        let expected: Architecture? = [.seabios: .amd64, .ovmf: .amd64, .aavmf: .arm64, .ubootKernel: .arm64][firmware]
        if let expected, expected != arch {
            throw SpecError(
                section.location("firmware"), "firmware '\(firmware.rawValue)' does not boot \(arch.rawValue)",
                hint: "use \(arch == .amd64 ? "seabios or ovmf" : "aavmf or u-boot-kernel") for \(arch.rawValue)")
        }
        let emulation = Emulation(
            binary: binary, machine: try section.requiredString("machine", hint: "add 'machine: q35' or similar"),
            cpu: try section.string("cpu"), memoryMiB: try positive(section, "memoryMiB") ?? 512,
            smp: try positive(section, "smp") ?? 1, firmware: firmware,
            buses: try buses(section),
            extraArgs: try section.stringList("extraArgs") ?? [], minimumQEMU: try section.string("minimumQEMU"),
            ubootPath: try section.string("ubootPath"), dtb: try section.string("dtb"),
            powersOff: try section.bool("powersOff") ?? true,
            diskSizePowerOfTwo: try section.bool("diskSizePowerOfTwo") ?? false,
            dtbEdits: try readDeviceTreeEdits(section, document: document),
            nic: try section.string("nic").flatMap { $0 == "none" ? nil : $0 },
            nicMissing: try section.string("nicMissing"))
        if let version = emulation.minimumQEMU,
            version.split(separator: ".").isEmpty || !version.split(separator: ".").allSatisfy({ Int($0) != nil })
        {
            throw SpecError(
                section.location("minimumQEMU"), "'minimumQEMU' must be a version such as \"9.0\", found '\(version)'",
                hint: "quote it: minimumQEMU: \"9.0\"")
        }
        if firmware == .ubootKernel {
            if emulation.ubootPath == nil {
                throw section.missing(
                    "ubootPath", hint: "u-boot-kernel needs the path of u-boot.bin inside the u-boot package")
            }
            if emulation.dtb == nil {
                throw section.missing("dtb", hint: "u-boot-kernel needs the DTB QEMU loads with -dtb")
            }
        }
        return emulation
    }

    /// `dtbEdits: {disable: [...], deleteNodes: [...], deleteProperties: ["/node:prop"]}`: every
    /// path absolute, every property named after a colon.
    static func readDeviceTreeEdits(_ section: MappingReader, document: YAMLDocument) throws -> DeviceTreeEdits {
        guard let edits = try section.mapping("dtbEdits", context: "'dtbEdits'") else { return DeviceTreeEdits() }
        try edits.checkKeys(allowed: ["disable", "deleteNodes", "deleteProperties"])
        var result = DeviceTreeEdits()
        for key in ["disable", "deleteNodes", "deleteProperties"] {
            let values = try edits.stringList(key) ?? []
            let nodes = try edits.list(key) ?? []
            for (value, node) in zip(values, nodes) {
                let path =
                    key == "deleteProperties" ? String(value.split(separator: ":", maxSplits: 1).first ?? "") : value
                let property =
                    key == "deleteProperties"
                    ? value.split(separator: ":", maxSplits: 1).dropFirst().first.map(String.init) : nil
                guard path.hasPrefix("/"), path.count > 1, !path.hasSuffix("/"), !path.contains("//") else {
                    throw SpecError(
                        document.location(node), "'\(value)' is not an absolute device-tree node path",
                        hint: "write the node's full path, e.g. /soc/hdmi@7ef00700")
                }
                if key == "deleteProperties", property?.isEmpty ?? true {
                    throw SpecError(
                        document.location(node), "'\(value)' names no property",
                        hint: "write NODE-PATH:PROPERTY, e.g. /soc/mmc@7e300000:non-removable")
                }
            }
            switch key {
            case "disable": result.disable = values
            case "deleteNodes": result.deleteNodes = values
            default: result.deleteProperties = values
            }
        }
        return result
    }

    static func readStages(_ top: MappingReader, document: YAMLDocument) throws -> [BootStage: StageRule] {
        guard let section = try top.mapping("stages", context: "'stages'") else {
            throw top.missing(
                "stages", hint: "give patterns and a timeout for firmware, bootloader, kernel, init and ready")
        }
        let names = BootStage.allCases.map(\.rawValue)
        try section.checkKeys(allowed: names)
        var stages: [BootStage: StageRule] = [:]
        for stage in BootStage.allCases {
            guard let rule = try section.mapping(stage.rawValue, context: "stage '\(stage.rawValue)'") else {
                throw section.missing(
                    stage.rawValue,
                    hint:
                        "every board lists all stages: \(names.joined(separator: ", ")); use 'patterns: []' for a stage not visible on the console"
                )
            }
            try rule.checkKeys(allowed: ["patterns", "timeout"])
            let patterns = try rule.stringList("patterns") ?? []
            if let nodes = try rule.list("patterns") {
                for (pattern, node) in zip(patterns, nodes) {
                    try SpecLoader.checkRegex(pattern, at: document.location(node))
                }
            }
            guard let timeout = try rule.double("timeout") else {
                throw rule.missing("timeout", hint: "add 'timeout: SECONDS' (TCG is slow; allow generously)")
            }
            guard timeout > 0 else {
                throw SpecError(
                    rule.location("timeout"), "'timeout' must be greater than zero", hint: "write seconds, e.g. 30")
            }
            stages[stage] = StageRule(patterns: patterns, timeoutSeconds: timeout)
        }
        return stages
    }
}
