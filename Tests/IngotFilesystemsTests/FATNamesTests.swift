// Unit tests of FAT naming and time helpers: 8.3 bases and tails, LFN layout and checksum,
// DOS dates, and geometry choices.

import Foundation
import Testing

@testable import IngotFilesystems

@Suite struct FATNamesTests {
    func s(_ text: String) -> [UInt8] { Array(text.utf8) }

    @Test func shortNames() {
        #expect(FATNames.exactShortName("README") == s("README     "))
        #expect(FATNames.exactShortName("BOOTX64.EFI") == s("BOOTX64 EFI"))
        #expect(FATNames.exactShortName("readme") == nil)
        #expect(FATNames.exactShortName("A.B.C") == nil)
        #expect(FATNames.shortName(for: "Makefile", used: []) == s("MAKEFILE   "))
        #expect(FATNames.shortName(for: "config.txt", used: []) == s("CONFIG  TXT"))
        #expect(FATNames.shortName(for: "longname1.txt", used: []) == s("LONGNA~1TXT"))
        #expect(FATNames.shortName(for: "longname2.txt", used: [s("LONGNA~1TXT")]) == s("LONGNA~2TXT"))
        #expect(FATNames.shortName(for: ".bashrc", used: []) == s("BASHRC~1   "))
        #expect(FATNames.shortName(for: "a+b c.tar.gz", used: []) == s("A_BCTA~1GZ "))
        #expect(FATNames.shortName(for: "ünï.txt", used: []) == s("_N_~1   TXT"))
        var used: Set<[UInt8]> = []
        for n in 1...9 { used.insert(s("ABCDEF~\(n)   ")) }
        for n in 10...12 { used.insert(s("ABCDE~\(n)   ")) }
        #expect(FATNames.shortName(for: "abcdefghij", used: used) == s("ABCDE~13   "))
    }

    @Test func longNameEntries() {
        // Checksum of "README  TXT" computed by hand with the spec's rotate-and-add.
        var sum: UInt8 = 0
        for b in s("README  TXT") { sum = (sum >> 1 | sum << 7) &+ b }
        #expect(FATNames.checksum(s("README  TXT")) == sum)
        let entries = FATNames.lfnEntries("A very long name.txt", checksum: 0x42)
        #expect(entries.count == 2)
        #expect(entries[0][0] == 0x42)  // ordinal 2 | last
        #expect(entries[1][0] == 0x01)
        #expect(entries.allSatisfy { $0[11] == 0x0F && $0[13] == 0x42 && $0[26] == 0 && $0[27] == 0 })
        #expect(entries[1][1] == UInt8(ascii: "A") && entries[1][3] == UInt8(ascii: " "))
        // 20 units: 7 in the second entry, then a 0x0000 terminator and 0xFFFF padding.
        #expect(entries[0][18] == 0 && entries[0][19] == 0 && entries[0][20] == 0xFF)
        #expect(entries[0][30] == 0xFF && entries[0][31] == 0xFF)
        #expect(FATNames.longNameProblem("ok name.txt") == nil)
        #expect(FATNames.longNameProblem("bad?") != nil)
        #expect(FATNames.longNameProblem("trailing.") != nil)
        #expect(FATNames.longNameProblem(String(repeating: "x", count: 256)) != nil)
    }

    @Test func dosTimes() {
        let t: Int64 = 1_704_164_646  // 2024-01-02 03:04:06 UTC
        let (time, date) = DOSTime.encode(t)
        #expect(date == UInt16(44) << 9 | 1 << 5 | 2)
        #expect(time == 3 << 11 | 4 << 5 | 3)
        #expect(DOSTime.decode(time: time, date: date) == t)
        #expect(DOSTime.encode(0) == DOSTime.encode(315_532_800))
        #expect(DOSTime.decode(time: DOSTime.encode(0).time, date: DOSTime.encode(0).date) == 315_532_800)
    }

    @Test func geometryLikeMkfsFat() throws {
        // 256 MiB auto: FAT16 with 4 KiB clusters; 600 MiB auto: FAT32 with 4 KiB clusters.
        let g16 = try #require(
            FATGeometry.choose(totalSectors: 524_288, type: nil, sectorsPerCluster: nil, rootEntries: 512))
        #expect(g16.type == .fat16 && g16.sectorsPerCluster == 8)
        let g32 = try #require(
            FATGeometry.choose(totalSectors: 1_228_800, type: nil, sectorsPerCluster: nil, rootEntries: 512))
        #expect(g32.type == .fat32 && g32.sectorsPerCluster == 8)
        #expect(g32.dataSector % 8 == 0)
        #expect((g32.clusters + 2) * 4 <= g32.fatSectors * 512)
        let g12 = try #require(
            FATGeometry.choose(totalSectors: 8192, type: nil, sectorsPerCluster: nil, rootEntries: 512))
        #expect(g12.type == .fat12)
        #expect(FATGeometry.choose(totalSectors: 40_000, type: .fat32, sectorsPerCluster: nil, rootEntries: 0) == nil)
        // A 256 MiB FAT32 (RPi boot) gets 512-byte clusters, as mkfs.fat gives it.
        let rpi = try #require(
            FATGeometry.choose(totalSectors: 524_288, type: .fat32, sectorsPerCluster: nil, rootEntries: 0))
        #expect(rpi.sectorsPerCluster == 1 && rpi.clusters >= 65529)
    }
}
