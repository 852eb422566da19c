// swift-tools-version: 6.1
// Ingot: immutable appliance images from one YAML spec, booted and gated under QEMU/libvirt.
import PackageDescription

let package = Package(
    name: "Ingot",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "ingot", targets: ["ingot"]),
        // For the fuzz package in Fuzz/ (ci/fuzz builds it with -sanitize=fuzzer); the CLI does not use it.
        .library(name: "IngotFuzzable", targets: ["IngotSpec", "IngotTree", "IngotSources", "IngotDisk"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.0.0"),
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
        .target(
            name: "IngotSources",
            dependencies: [
                "IngotSpec", "IngotTree", "CArchive",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        .target(
            name: "IngotDisk",
            dependencies: [
                "IngotTree", "IngotFilesystems", "CFdisk", "CBlkid",
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
                "IngotContract", "IngotSpec", "CLibvirt",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        .target(
            name: "IngotBuild",
            dependencies: [
                "IngotContract", "IngotSpec", "IngotSources", "IngotTree", "IngotFilesystems", "IngotDisk",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        .target(
            name: "IngotCommands",
            dependencies: [
                "IngotContract", "IngotSpec", "IngotSources", "IngotTree", "IngotFilesystems", "IngotDisk", "IngotBoot", "IngotBuild", "IngotFlash",
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
                "IngotContract", "IngotBuild", "IngotTree", "IngotFilesystems", "IngotDisk", "IngotBoot", "IngotSpec", "IngotSources",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]),

        .testTarget(name: "IngotContractTests", dependencies: ["IngotContract"]),
        .testTarget(name: "IngotSpecTests", dependencies: ["IngotSpec", "IngotContract"]),
        .testTarget(name: "IngotTreeTests", dependencies: ["IngotTree"]),
        .testTarget(name: "IngotFilesystemsTests", dependencies: ["IngotFilesystems", "IngotTree"]),
        .testTarget(name: "IngotSourcesTests", dependencies: ["IngotSources", "IngotTree", "IngotSpec"]),
        .testTarget(name: "IngotDiskTests", dependencies: ["IngotDisk", "IngotTree", "IngotFilesystems"]),
        .testTarget(name: "IngotFlashTests", dependencies: ["IngotFlash", "IngotDisk"]),
        .testTarget(name: "IngotBootTests", dependencies: ["IngotBoot", "IngotSpec", "IngotContract"]),
        .testTarget(
            name: "IngotBuildTests",
            dependencies: ["IngotBuild", "IngotContract", "IngotSpec", "IngotDisk", "IngotTree", "IngotSources", "IngotFilesystems"]),
        .testTarget(
            name: "IngotCommandsTests",
            dependencies: ["IngotCommands", "IngotContract", "IngotBuild", "IngotSpec", "IngotBoot", "IngotTree", "IngotSources", "IngotFlash"]),
    ],
    swiftLanguageModes: [.v5]
)
