// The manifest's typed roles, formats and partition roles round-trip through JSON under the
// names users and other tools see ("disk-raw", "kernel+initrd", "root-a"), and a manifest with
// an unknown role is refused with the JSON path named.

import Foundation
import IngotContract
import IngotDisk
import Testing

@testable import IngotBuild

@Suite struct ManifestTests {
    static func sample() -> BuildManifest {
        BuildManifest(
            name: "hello", board: "rpi3", arch: "arm64", formats: [.raw, .kernelInitrd], sourceDateEpoch: 1,
            spec: .init(path: "hello.yml", sha256: String(repeating: "a", count: 64)), kernel: nil,
            cmdline: "console=ttyAMA0",
            inputs: [],
            outputs: [
                .init(name: "hello-rpi3.img", role: .diskRaw, size: 4, sha256: "b"),
                .init(name: "hello-rpi3.img.bmap", role: .bmap, size: 2, sha256: "c"),
                .init(name: "hello-rpi3-kernel", role: .kernel, size: 3, sha256: "d"),
            ],
            partitions: [
                .init(
                    number: 1, name: "boot", role: .boot, offset: 4 << 20, size: 128 << 20, type: "0x0c", uuid: "u1",
                    filesystem: "vfat", sha256: nil),
                .init(
                    number: 2, name: "root-a", role: .rootA, offset: 132 << 20, size: 64 << 20, type: "0x83",
                    uuid: "u2", filesystem: "squashfs", sha256: nil),
            ],
            diskID: "0x1234", table: "mbr")
    }

    @Test func rolesRoundTripUnderTheirNames() throws {
        let manifest = Self.sample()
        let data = try manifest.encoded()
        let json = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(json["formats"] as? [String] == ["raw", "kernel+initrd"])
        let outputs = try #require(json["outputs"] as? [[String: Any]])
        #expect(outputs.map { $0["role"] as? String } == ["disk-raw", "bmap", "kernel"])
        let partitions = try #require(json["partitions"] as? [[String: Any]])
        #expect(partitions.map { $0["role"] as? String } == ["boot", "root-a"])
        #expect(try JSONDecoder().decode(BuildManifest.self, from: data) == manifest)
        #expect(manifest.outputs(.bmap).map(\.name) == ["hello-rpi3.img.bmap"])
    }

    @Test func unknownRoleIsRefusedWithItsPath() throws {
        let dir = try TempDir("manifest")
        defer { dir.cleanup() }
        let text = String(decoding: try Self.sample().encoded(), as: UTF8.self).replacingOccurrences(
            of: "\"disk-raw\"", with: "\"disk-floppy\"")
        let path = try dir.write("hello-rpi3.manifest.json", Array(text.utf8))
        do {
            _ = try BuildManifest.load(path: path)
            Issue.record("an unknown role was accepted")
        } catch let error as BuildManifest.Error {
            guard case .unreadable(let p, let detail) = error else { throw error }
            #expect(p == path && detail.contains("outputs[0].role"), "\(detail)")
            #expect("\(error)".contains("rebuild the image"))
        }
        #expect(throws: BuildManifest.Error.missing(path: dir.path + "/none.manifest.json")) {
            try BuildManifest.load(path: dir.path + "/none.manifest.json")
        }
    }
}
