// What plan building needs to know about the host — executables, file sizes and digests, the
// QEMU version, firmware descriptors, whether KVM really works — behind a protocol so tests can
// supply a fake host. The system implementation caches its probes per process.

import Crypto
import Foundation
import IngotSystem
import Synchronization

/// Read-only facts about the host, used while building a machine plan.
public protocol BootHost: Sendable {
    /// The absolute path of `name` (looked up in PATH unless it contains a slash), if executable.
    func executable(_ name: String) -> String?
    /// The size of a regular file, or nil when it does not exist.
    func fileSize(_ path: String) -> UInt64?
    /// The lowercase hex sha256 of a file.
    func sha256(_ path: String) throws -> String
    /// The first `count` bytes of a file (fewer if shorter), nil if unreadable.
    func prefix(_ path: String, count: Int) -> [UInt8]?
    /// The QEMU version (`7.2.22`) printed by `binary --version`.
    func qemuVersion(_ binary: String) throws -> String
    /// QEMU firmware descriptors (/usr/share/qemu/firmware/*.json), in priority order.
    func firmwareDescriptors() -> [FirmwareDescriptor]
    /// True when KVM can run a guest of `architecture` (QEMU name) with `binary`.
    func kvmWorks(binary: String, architecture: String) -> (usable: Bool, detail: String)
    /// The host CPU architecture in QEMU's naming (`x86_64`, `aarch64`).
    var hostArchitecture: String { get }
    /// QEMU builds installed beside the system's (e.g. QEMU 10 under /opt/ingot/qemu-10), as
    /// absolute paths of `binary`, newest prefix first. Used when a board needs a newer QEMU.
    func additionalQEMUs(_ binary: String) -> [String]
}

extension BootHost {
    public func additionalQEMUs(_ binary: String) -> [String] { [] }
}

/// One QEMU firmware descriptor (the fields the planner uses).
public struct FirmwareDescriptor: Codable, Equatable, Sendable {
    /// The descriptor file it came from.
    public var source: String
    /// `uefi`, `bios`, ...
    public var interfaceTypes: [String]
    /// `flash` or `memory`.
    public var device: String
    /// Firmware code path.
    public var executable: String
    /// NVRAM template path (flash only).
    public var nvramTemplate: String?
    /// Target architectures (`x86_64`, `aarch64`).
    public var architectures: [String]
    /// Features such as `secure-boot`, `enrolled-keys`, `requires-smm`.
    public var features: [String]

    /// Creates a descriptor.
    public init(
        source: String, interfaceTypes: [String], device: String, executable: String, nvramTemplate: String?,
        architectures: [String], features: [String]
    ) {
        self.source = source
        self.interfaceTypes = interfaceTypes
        self.device = device
        self.executable = executable
        self.nvramTemplate = nvramTemplate
        self.architectures = architectures
        self.features = features
    }

    /// Parses a descriptor JSON document; nil when it lacks the fields needed.
    public static func parse(_ data: Data, source: String) -> FirmwareDescriptor? {
        guard let root = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            let mapping = root["mapping"] as? [String: Any],
            let executable = (mapping["executable"] as? [String: Any])?["filename"] as? String
        else { return nil }
        let targets = (root["targets"] as? [[String: Any]]) ?? []
        return FirmwareDescriptor(
            source: source, interfaceTypes: root["interface-types"] as? [String] ?? [],
            device: mapping["device"] as? String ?? "", executable: executable,
            nvramTemplate: (mapping["nvram-template"] as? [String: Any])?["filename"] as? String,
            architectures: targets.compactMap { $0["architecture"] as? String },
            features: root["features"] as? [String] ?? [])
    }
}

/// The real host. Probes (QEMU version, KVM) are cached per process.
public struct SystemBootHost: BootHost {
    /// Where QEMU firmware descriptors live.
    public var descriptorDirectories: [String]

    /// Creates the system host.
    public init(descriptorDirectories: [String] = ["/usr/share/qemu/firmware", "/etc/qemu/firmware"]) {
        self.descriptorDirectories = descriptorDirectories
    }

    public func executable(_ name: String) -> String? {
        if name.contains("/") { return access(name, X_OK) == 0 ? name : nil }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for directory in path.split(separator: ":") {
            let candidate = "\(directory)/\(name)"
            if access(candidate, X_OK) == 0 { return candidate }
        }
        return nil
    }

    public func fileSize(_ path: String) -> UInt64? {
        var info = stat()
        // A block device (`ingot test /dev/sdX`) has no st_size; its size is where its end is.
        if stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFBLK {
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            defer { if fd >= 0 { close(fd) } }
            let end = fd >= 0 ? lseek(fd, 0, SEEK_END) : -1
            return end > 0 ? UInt64(end) : nil
        }
        guard stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return nil }
        return UInt64(info.st_size)
    }

    public func sha256(_ path: String) throws -> String {
        do { return try SHA256Stream.hex(ofFile: path) } catch {
            throw MachinePlan.Error.missingFile(role: "firmware", path: path)
        }
    }

    public func prefix(_ path: String, count: Int) -> [UInt8]? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        return (try? handle.read(upToCount: count)).map { Array($0) } ?? []
    }

    public func qemuVersion(_ binary: String) throws -> String {
        if let cached = ProbeCache.shared.value(for: "version:\(binary)") { return cached }
        let output = try ProbeRunner.run(binary, ["--version"], timeout: 5)
        guard let match = output.stdout.range(of: #"version (\d+\.\d+(\.\d+)?)"#, options: .regularExpression) else {
            throw MachinePlan.Error.qemuVersionUnknown(binary: binary, output: output.stdout + output.stderr)
        }
        let version = String(output.stdout[match].dropFirst("version ".count))
        ProbeCache.shared.set(version, for: "version:\(binary)")
        return version
    }

    public func firmwareDescriptors() -> [FirmwareDescriptor] {
        var byName: [String: String] = [:]  // QEMU's rule: /etc overrides /usr/share by file name
        for directory in descriptorDirectories {
            for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
            where name.hasSuffix(".json") {
                byName[name] = "\(directory)/\(name)"
            }
        }
        return byName.keys.sorted().compactMap { name in
            guard let path = byName[name], let data = FileManager.default.contents(atPath: path) else { return nil }
            return FirmwareDescriptor.parse(data, source: path)
        }
    }

    public func kvmWorks(binary: String, architecture: String) -> (usable: Bool, detail: String) {
        let key = "kvm:\(binary):\(architecture)"
        if let cached = ProbeCache.shared.value(for: key) {
            return (cached.hasPrefix("yes"), String(cached.dropFirst(4)))
        }
        let result = KVMProbe.run(binary: binary, architecture: architecture, hostArchitecture: hostArchitecture)
        ProbeCache.shared.set((result.usable ? "yes " : "no  ") + result.detail, for: key)
        return result
    }

    /// Prefixes searched for side-by-side QEMU builds: `$INGOT_QEMU_PREFIXES` (colon-separated)
    /// when set, else every `/opt/ingot/qemu-*` (what ci/bootstrap installs), newest first.
    public var qemuPrefixes: [String] {
        if let list = ProcessInfo.processInfo.environment["INGOT_QEMU_PREFIXES"], !list.isEmpty {
            return list.split(separator: ":").map(String.init)
        }
        let base = "/opt/ingot"
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: base)) ?? []).filter {
            $0.hasPrefix("qemu-")
        }
        return names.sorted { Planner.compareVersions(String($0.dropFirst(5)), String($1.dropFirst(5))) > 0 }.map {
            "\(base)/\($0)"
        }
    }

    public func additionalQEMUs(_ binary: String) -> [String] {
        qemuPrefixes.map { "\($0)/bin/\(binary)" }.filter { access($0, X_OK) == 0 }
    }

    public var hostArchitecture: String {
        var info = utsname()
        uname(&info)
        let machine = withUnsafeBytes(of: &info.machine) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        return machine == "arm64" ? "aarch64" : machine
    }
}

/// Per-process cache of probe results.
final class ProbeCache: Sendable {
    static let shared = ProbeCache()
    private let values = Mutex<[String: String]>([:])

    func value(for key: String) -> String? {
        values.withLock { $0[key] }
    }

    func set(_ value: String, for key: String) {
        values.withLock { $0[key] = value }
    }
}
