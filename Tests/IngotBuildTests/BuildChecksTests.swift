// What a build refuses before any work: a board × format that cannot exist (decided for every
// pair first), no formats at all, and a lock named by the user that does not exist — with
// nothing created in the output directory.

import Foundation
import IngotContract
import Testing

@testable import IngotBuild

@Suite struct BuildChecksTests {
    @Test func everyBoardAndFormatIsCheckedFirst() throws {
        let efi = try Repo.board("x86_64-efi")
        let rpi3 = try Repo.board("rpi3")
        do {
            try Builder.checkFormats([.raw, .iso], boards: [efi, rpi3])
            Issue.record("rpi3/iso was accepted")
        } catch let error as Builder.Error {
            guard case .formatUnavailable(let format, let board, let reason) = error else { throw error }
            #expect(format == .iso && board == "rpi3" && reason.contains("SD card"))
            #expect(error.isUnavailableFormat)
            #expect("\(error)".contains("rpi3") && "\(error)".contains("iso"))
        }
        try Builder.checkFormats(
            [.raw, .qcow2, .iso, .kernelInitrd, .tar],
            boards: [efi, try Repo.board("x86_64-bios"), try Repo.board("arm64-efi")])
        try Builder.checkFormats([.raw, .qcow2, .kernelInitrd, .tar], boards: [rpi3, try Repo.board("rpi4")])
        #expect(throws: Builder.Error.noFormats(board: "rpi3")) { try Builder.checkFormats([], boards: [rpi3]) }
        #expect(Builder.unavailability(of: .iso, on: efi) == nil)
        #expect(Builder.unavailability(of: .iso, on: rpi3) != nil)
    }

    @Test func aNamedLockThatDoesNotExistStopsTheBuild() async throws {
        let dir = try TempDir("lock")
        defer { dir.cleanup() }
        let out = dir.path + "/out"
        let options = BuildOptions(
            outputDirectory: out, formats: [.kernelInitrd], storeRoot: dir.path + "/cache",
            lockPath: dir.path + "/typo.json", lockRequired: true)
        await #expect(throws: Builder.Error.lockMissing(path: dir.path + "/typo.json")) {
            _ = try await Builder(spec: try Repo.helloSpec(), options: options).build(
                board: try Repo.board("x86_64-efi"))
        }
        #expect(!FileManager.default.fileExists(atPath: out))
        // The default lock may be absent: that is an unpinned build, not an error.
        let unpinned = Builder(
            spec: try Repo.helloSpec(), options: BuildOptions(outputDirectory: out, lockPath: dir.path + "/typo.json"))
        #expect(try unpinned.loadLock() == nil)
    }
}
