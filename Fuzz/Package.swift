// swift-tools-version: 6.1
// libFuzzer targets for Ingot's parsers of untrusted input: the spec loader, the tar/OCI readers
// and `inspect`'s partition-table parsing. Kept out of the main package so a normal build never
// sees them; `ci/fuzz` builds them with `-sanitize=fuzzer` (every module instrumented for
// coverage) and runs each for a bounded time from the seed corpus Fuzz/make-corpus makes.
import PackageDescription

let package = Package(
    name: "IngotFuzz",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "Ingot", path: "..")
    ],
    targets: [
        .target(name: "FuzzDriver"),
        .executableTarget(
            name: "FuzzSpec", dependencies: ["FuzzDriver", .product(name: "IngotFuzzableParsers", package: "Ingot")]),
        .executableTarget(
            name: "FuzzArchive", dependencies: ["FuzzDriver", .product(name: "IngotFuzzableParsers", package: "Ingot")]),
        // FuzzOCI brings NIO/TLS (through IngotSources), FuzzInspect swift-crypto's BoringSSL (through
        // IngotDisk): longer instrumented builds, so ci/test leaves them to ci/nightly (ci/fuzz --all).
        .executableTarget(
            name: "FuzzOCI", dependencies: ["FuzzDriver", .product(name: "IngotFuzzableSources", package: "Ingot")]),
        .executableTarget(
            name: "FuzzInspect", dependencies: ["FuzzDriver", .product(name: "IngotFuzzableDisk", package: "Ingot")]),
    ],
    swiftLanguageModes: [.v5]
)
