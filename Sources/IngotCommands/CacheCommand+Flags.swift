// `Flags.Registry`: how builds (and `ingot cache`) reach registries — `--offline`, plain-HTTP
// hosts, mirrors, an extra CA file, the Docker config holding credentials, parallel downloads.

import ArgumentParser
import Foundation
import IngotRegistry

extension Flags {
    /// Registry access options shared by `build` and `cache`.
    public struct Registry: ParsableArguments {
        @Flag(name: .long, help: "Never touch the network: use only images and packages already in the store.")
        public var offline = false
        @Option(
            name: .customLong("registry-http"), help: "A registry host[:port] spoken to over plain HTTP (repeatable).")
        public var plainHTTP: [String] = []
        @Option(
            name: .customLong("registry-mirror"),
            help: "DOMAIN=URL: pull DOMAIN's images from the mirror at URL first (repeatable).")
        public var mirror: [String] = []
        @Option(name: .customLong("registry-ca"), help: "A PEM file of CA certificates trusted beside the system's.")
        public var caFile: String?
        @Option(
            name: .customLong("docker-config"),
            help: "Docker config.json with registry credentials (default: ~/.docker/config.json).")
        public var dockerConfig: String?
        @Option(name: .customLong("pull-jobs"), help: "Layers downloaded at the same time.")
        public var pullJobs: Int = 4

        public init() {}

        /// The options for `RegistryClient`.
        public func options() throws -> RegistryOptions {
            var mirrors: [String: String] = [:]
            for entry in mirror {
                let parts = entry.split(separator: "=", maxSplits: 1).map(String.init)
                guard parts.count == 2, !parts[0].isEmpty,
                    parts[1].hasPrefix("http://") || parts[1].hasPrefix("https://")
                else {
                    throw ValidationError(
                        "--registry-mirror '\(entry)' must be DOMAIN=URL, e.g. docker.io=https://mirror.example")
                }
                mirrors[parts[0]] = parts[1]
            }
            guard pullJobs >= 1, pullJobs <= 64 else { throw ValidationError("--pull-jobs must be between 1 and 64") }
            if let caFile, !FileManager.default.fileExists(atPath: caFile) {
                throw ValidationError("--registry-ca '\(caFile)' does not exist")
            }
            return RegistryOptions(
                offline: offline, plainHTTP: Set(plainHTTP), mirrors: mirrors, caFile: caFile.map(absolutePath),
                dockerConfigPath: dockerConfig.map(absolutePath), parallelDownloads: pullJobs)
        }
    }
}
