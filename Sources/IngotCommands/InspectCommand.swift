// `ingot inspect IMAGE`: partition table (libfdisk) and filesystems (libblkid) of an image,
// checked against the manifest that lists it when there is one. Exit 1 when they differ.

import ArgumentParser
import Foundation
import IngotBuild
import IngotDisk

struct InspectCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show an image's partitions and filesystems; check them against its manifest.")

    @Argument(help: "A disk image (.img) built by Ingot, or any raw disk image.") var image: String
    @Flag(name: .long, help: "Print JSON.") var json = false
    @Option(name: .long, help: "Manifest to check against (default: the manifest of the build that wrote the image).")
    var manifest: String?
    @Flag(name: .long, help: "Also hash every partition and compare with the manifest's digests.")
    var verifyContent = false

    func run() async throws {
        let report = try ImageInspector.inspect(path: image)
        var checkedAgainst: (path: String, manifest: BuildManifest)?
        var differences: [String] = []
        if let manifest {
            checkedAgainst = (manifest, try BuildManifest.load(path: manifest))
        } else {
            do {
                let outputs = try BuildOutputs.load(image)
                checkedAgainst = outputs.manifest.map { (outputs.manifestPath, $0) }
            } catch BuildOutputs.Error.notListed(_, let path) {
                // Beside a manifest that does not list it: left from an earlier build.
                checkedAgainst = (path, try BuildManifest.load(path: path))
                differences.append("\(image) is not one of the outputs the manifest lists (left from an earlier build)")
            } catch {
                checkedAgainst = nil  // an image no build of Ingot wrote: just show it
            }
        }
        differences +=
            try checkedAgainst?.manifest.differences(from: report, image: image, content: verifyContent) ?? []
        if json {
            struct Output: Encodable {
                var report: InspectReport
                var manifest: String?
                var differences: [String]
            }
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            let data = try enc.encode(Output(report: report, manifest: checkedAgainst?.path, differences: differences))
            print(String(decoding: data, as: UTF8.self))
        } else {
            print(report.table())
            if let path = checkedAgainst?.path {
                print(differences.isEmpty ? "matches \(path)" : "differs from \(path):")
                for d in differences { print("  - \(d)") }
            }
        }
        if !differences.isEmpty { throw ExitCode(1) }
    }
}
