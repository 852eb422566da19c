// Layout planning in memory: offsets and sizes, seeded identifiers, and the board rules whose
// violations must name the board, the partition and the rule.

import Foundation
import IngotDisk
import IngotFilesystems
import Testing

@Suite struct LayoutPlannerTests {
    let mib = Layouts.mib

    func message(_ body: () throws -> DiskLayout) -> String {
        do {
            let layout = try body()
            Issue.record("expected an error, got a layout:\n\(layout)")
            return ""
        } catch { return String(describing: error) }
    }

    @Test func rpiRejectsESPFirst() {
        let esp = PartitionPlan(name: "esp", role: .esp, type: "esp", size: .fixed(64 * mib))
        let m = message {
            try LayoutPlanner.plan(
                table: .mbr, partitions: Layouts.rpi(first: esp), contentSizes: [:], firstOffset: 4 * mib, seed: "s",
                constraints: Layouts.rpiConstraints)
        }
        #expect(m.contains("rpi3 needs an MBR table with the boot partition of type fat32-lba (0x0c)"), "\(m)")
        #expect(m.contains("the layout has 'esp'"), "\(m)")
    }

    @Test func rpiRejectsGPTAndForbiddenTypes() {
        let m1 = message {
            try LayoutPlanner.plan(
                table: .gpt, partitions: Layouts.rpi(), contentSizes: [:], seed: "s",
                constraints: Layouts.rpiConstraints)
        }
        #expect(m1.contains("rpi3 needs an MBR partition table") && m1.contains("GPT"), "\(m1)")
        var parts = Layouts.rpi()
        parts[2] = PartitionPlan(name: "extra", role: .other, type: "esp", size: .fixed(mib))
        let m2 = message {
            try LayoutPlanner.plan(
                table: .mbr, partitions: parts, contentSizes: [:], seed: "s", constraints: Layouts.rpiConstraints)
        }
        #expect(m2.contains("rpi3 cannot use partition type 'esp'") && m2.contains("'extra'"), "\(m2)")
    }

    @Test func efiNeedsESP() {
        var parts = Layouts.efi()
        parts[0].type = "fat32"
        let m = message {
            try LayoutPlanner.plan(
                table: .gpt, partitions: parts, contentSizes: [:], seed: "s", constraints: Layouts.efiConstraints)
        }
        #expect(m.contains("x86_64-efi") && m.contains("EFI system partition") && m.contains("'boot' (fat32)"), "\(m)")
    }

    @Test func contentTooLargeNamesBothSizes() {
        let m = message {
            try LayoutPlanner.plan(
                table: .gpt, partitions: Layouts.efi(), contentSizes: ["boot": 40 * mib], seed: "s",
                constraints: .none())
        }
        #expect(m.contains("'boot'") && m.contains("33554432") && m.contains("41943040"), "\(m)")
    }

    @Test func typeAndShapeErrors() {
        var bad = Layouts.efi()
        bad[1].type = "linux-root-sparc"
        let m1 = message {
            try LayoutPlanner.plan(table: .gpt, partitions: bad, contentSizes: [:], seed: "s", constraints: .none())
        }
        #expect(m1.contains("'root-a'") && m1.contains("linux-root-sparc") && m1.contains("fat32-lba, "), "\(m1)")

        let bios = [PartitionPlan(name: "bios", role: .other, type: "bios-boot", size: .fixed(mib))]
        let m2 = message {
            try LayoutPlanner.plan(table: .mbr, partitions: bios, contentSizes: [:], seed: "s", constraints: .none())
        }
        #expect(m2.contains("'bios'") && m2.contains("MBR type byte"), "\(m2)")

        var fillFirst = Layouts.efi()
        fillFirst.swapAt(0, 2)
        let m3 = message {
            try LayoutPlanner.plan(
                table: .gpt, partitions: fillFirst, contentSizes: [:], seed: "s", constraints: .none())
        }
        #expect(m3.contains("'data'") && m3.contains("fill"), "\(m3)")

        let five = (1...5).map { PartitionPlan(name: "p\($0)", role: .other, type: "linux", size: .fixed(mib)) }
        let m4 = message {
            try LayoutPlanner.plan(table: .mbr, partitions: five, contentSizes: [:], seed: "s", constraints: .none())
        }
        #expect(m4.contains("at most 4"), "\(m4)")

        let m5 = message {
            try LayoutPlanner.plan(
                table: .gpt, partitions: Layouts.efi(), contentSizes: [:], seed: "s", constraints: .none(),
                diskSize: 8 * mib)
        }
        #expect(m5.contains("8388608") && m5.contains("smaller"), "\(m5)")
    }

    @Test func rawCodesAndGUIDsResolve() throws {
        #expect(try PartitionType.named("0x0c").resolve().mbr == 0x0c)
        #expect(try PartitionType.named("0xef").resolve().gpt == "C12A7328-F81F-11D2-BA4B-00A0C93EC93B")
        let g = try PartitionType.named("c12a7328-f81f-11d2-ba4b-00a0c93ec93b").resolve()
        #expect(g.mbr == 0xef && g.gpt == "C12A7328-F81F-11D2-BA4B-00A0C93EC93B")
        // 0x0c is accepted where the board lists fat32-lba.
        let parts = Layouts.rpi(first: PartitionPlan(name: "boot", role: .boot, type: "0x0c", size: .fixed(mib)))
        _ = try LayoutPlanner.plan(
            table: .mbr, partitions: parts, contentSizes: [:], seed: "s", constraints: Layouts.rpiConstraints)
    }

    @Test func offsetsAlignmentAndIDs() throws {
        let layout = try LayoutPlanner.plan(
            table: .gpt, partitions: Layouts.efi(), contentSizes: ["root-a": 10 * mib + 1, "data": 3 * mib],
            seed: "seed",
            constraints: Layouts.efiConstraints, roundDiskToPowerOfTwo: true)
        let r = layout.partitions.map(\.range)
        #expect(r[0] == ByteRange(offset: mib, size: 32 * mib))
        #expect(r[1] == ByteRange(offset: 33 * mib, size: 12 * mib))  // 11 MiB + 10% → 12 MiB
        #expect(r[2].offset == 45 * mib)
        #expect(layout.diskSize == 64 * mib)  // 45 + 3 + tail → 49 MiB → 64 MiB
        #expect(r[2].end == (64 * mib - 33 * 512) / 4096 * 4096)
        for p in layout.partitions {
            let u = try #require(UUID(uuidString: p.uuid))
            #expect(u.uuidString == p.uuid)
            #expect(Array(p.uuid)[14] == "5")  // version nibble
            #expect("89AB".contains(Array(p.uuid)[19]))  // RFC 4122 variant
        }
        #expect(Set(layout.partitions.map(\.uuid)).count == 3)
        #expect(
            layout.partitions.map(\.uuid)
                == (try LayoutPlanner.plan(
                    table: .gpt, partitions: Layouts.efi(), contentSizes: ["root-a": 10 * mib + 1, "data": 3 * mib],
                    seed: "seed",
                    constraints: .none(), roundDiskToPowerOfTwo: true)).partitions.map(\.uuid))
        let text = layout.description
        #expect(text.contains("root-a") && text.contains(layout.diskID) && text.contains("64.0 MiB"), "\(text)")
    }
}
