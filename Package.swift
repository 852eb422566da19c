// swift-tools-version: 6.1
// Ingot: immutable appliance images from one YAML spec, booted and gated under QEMU/libvirt.
import PackageDescription

let package = Package(
    name: "Ingot",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "ingot", targets: ["ingot"]),
        // For the fuzz package in Fuzz/ (ci/fuzz builds it with -sanitize=fuzzer); the CLI does not use them.
        // One product per cost: the parsers build alone in ci/test's time budget; IngotDisk brings
        // swift-crypto's BoringSSL and IngotSources NIO and TLS, so those targets fuzz in ci/nightly.
        .library(name: "IngotFuzzableParsers", targets: ["IngotSpec", "IngotTree"]),
        .library(name: "IngotFuzzableDisk", targets: ["IngotDisk"]),
        .library(name: "IngotFuzzableSources", targets: ["IngotSpec", "IngotSources"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.0.0"),
        .package(url: "https://github.com/apple/swift-system", from: "1.8.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.100.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.30.0"),
    ],
    targets: [
        // C seams (pkg-config system libraries); one Swift class per handle lives in the module using it.
        .systemLibrary(name: "CArchive", pkgConfig: "libarchive", providers: [.apt(["libarchive-dev"])]),
        .systemLibrary(name: "CFdisk", pkgConfig: "fdisk", providers: [.apt(["libfdisk-dev"])]),
        .systemLibrary(name: "CBlkid", pkgConfig: "blkid", providers: [.apt(["libblkid-dev"])]),
        .systemLibrary(name: "CLibvirt", pkgConfig: "libvirt", providers: [.apt(["libvirt-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        // Block-device ioctls, O_DIRECT and memfd for IngotFlash (glibc hides them from Swift).
        .target(name: "CFlash"),

        // The one OS layer (a leaf: no Ingot imports): child processes in their own group, the
        // interrupt signal stream, the streaming sha256 digest and typed errno errors.
        .target(name: "CIngotSystem"),
        .target(
            name: "IngotSystem",
            dependencies: [
                "CIngotSystem",
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]),

        // Leaf modules: no processes, network or CLI.
        // The typed build→boot contract (formats, buses, backend kinds, artifact layout) every layer shares.
        .target(name: "IngotContract"),
        .target(name: "IngotSpec", dependencies: ["IngotContract", .product(name: "Yams", package: "Yams")]),
        .target(
            name: "IngotTree",
            dependencies: ["CArchive", "CZlib"]),
        .target(
            name: "IngotFilesystems",
            dependencies: ["IngotTree", "CZlib", "CZstd"]),

        // Orchestrating layers.
        // The OCI distribution client (HTTP/TLS through AsyncHTTPClient); knows references, auth and
        // verified blob transfer, not the store. Kept apart so NIO stays out of the leaf modules.
        .target(
            name: "IngotRegistry",
            dependencies: [
                "IngotSpec",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        .target(
            name: "IngotSources",
            dependencies: [
                "IngotSpec", "IngotTree", "IngotSystem", "IngotRegistry", "CArchive",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        .target(
            name: "IngotDisk",
            dependencies: [
                "IngotTree", "IngotFilesystems", "IngotSystem", "CFdisk", "CBlkid",
                .product(name: "Crypto", package: "swift-crypto"),
            ]),
        .target(
            name: "IngotFlash",
            dependencies: [
                "IngotContract", "IngotDisk", "IngotTree", "CBlkid", "CFlash",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        .target(
            name: "IngotBoot",
            dependencies: [
                "IngotContract", "IngotSpec", "IngotSystem", "CLibvirt",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        .target(
            name: "IngotBuild",
            dependencies: [
                "IngotContract", "IngotSpec", "IngotSources", "IngotRegistry", "IngotTree", "IngotFilesystems",
                "IngotDisk",
                "IngotSystem",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        .target(
            name: "IngotCommands",
            dependencies: [
                "IngotContract", "IngotSpec", "IngotSources", "IngotTree", "IngotFilesystems", "IngotDisk", "IngotBoot",
                "IngotBuild", "IngotFlash",
                "IngotRegistry", "IngotSystem",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        .executableTarget(
            name: "ingot",
            dependencies: ["IngotCommands", .product(name: "ArgumentParser", package: "swift-argument-parser")]),

        .executableTarget(
            name: "ingot-bench",
            dependencies: [
                "IngotContract", "IngotBuild", "IngotTree", "IngotFilesystems", "IngotDisk", "IngotBoot", "IngotSpec",
                "IngotSources",
                "IngotSystem", "IngotRegistry",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]),

        // Shared test support: running `ingot` and host tools through IngotSystem, temp dirs, and
        // tool checks that fail instead of skip under CI=true.
        .target(name: "IngotTestSupport", dependencies: ["IngotSystem"], path: "Tests/IngotTestSupport"),

        .testTarget(name: "IngotSystemTests", dependencies: ["IngotSystem", "IngotTestSupport"]),
        .testTarget(name: "IngotContractTests", dependencies: ["IngotContract", "IngotTestSupport"]),
        .testTarget(name: "IngotSpecTests", dependencies: ["IngotSpec", "IngotContract", "IngotTestSupport"]),
        .testTarget(name: "IngotTreeTests", dependencies: ["IngotTree", "IngotTestSupport"]),
        .testTarget(
            name: "IngotFilesystemsTests",
            dependencies: ["IngotFilesystems", "IngotTree", "IngotSystem", "IngotTestSupport"]),
        .testTarget(
            name: "IngotSourcesTests",
            dependencies: [
                "IngotSources", "IngotTree", "IngotSpec", "IngotSystem", "IngotRegistry", "IngotTestSupport",
            ]),
        .testTarget(
            name: "IngotDiskTests", dependencies: ["IngotDisk", "IngotTree", "IngotFilesystems", "IngotTestSupport"]),
        .testTarget(name: "IngotFlashTests", dependencies: ["IngotFlash", "IngotDisk", "IngotTestSupport"]),
        .testTarget(
            name: "IngotBootTests",
            dependencies: ["IngotBoot", "IngotSpec", "IngotContract", "IngotSystem", "IngotTestSupport"]),
        .testTarget(
            name: "IngotBuildTests",
            dependencies: [
                "IngotBuild", "IngotContract", "IngotSpec", "IngotDisk", "IngotTree", "IngotSources",
                "IngotFilesystems",
            ]),
        .testTarget(
            name: "IngotCommandsTests",
            dependencies: [
                "IngotCommands", "IngotContract", "IngotBuild", "IngotSpec", "IngotBoot", "IngotTree", "IngotSources",
                "IngotFlash",
                "IngotSystem", "IngotRegistry", "IngotTestSupport",
            ]),
    ],
    swiftLanguageModes: [.v6]
)
