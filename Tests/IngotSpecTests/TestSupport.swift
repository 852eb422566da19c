// Helpers for the IngotSpec tests: the package root (found from #filePath), temporary
// directories, and a way to capture the SpecError a parse throws.

import Foundation
import Testing

@testable import IngotSpec

enum Fixture {
    /// The package root: three levels above this file (Tests/IngotSpecTests/TestSupport.swift).
    static let packageRoot: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    static var boardsDirectory: String { packageRoot + "/boards" }
    static var examplesDirectory: String { packageRoot + "/examples" }

    /// A fresh temporary directory, removed by `cleanup`.
    static func temporaryDirectory() throws -> String {
        let path = NSTemporaryDirectory() + "ingot-spec-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    static func cleanup(_ path: String) {
        try? FileManager.default.removeItem(atPath: path)
    }

    /// Parses `yaml` as "spec.yml" without touching the host, expecting a SpecError.
    static func specError(
        _ yaml: String, checkSources: Bool = false, baseDirectory: String = "/nonexistent",
        sourceLocation: Testing.SourceLocation = #_sourceLocation
    ) -> SpecError? {
        do {
            let spec = try SpecLoader.parse(
                yaml: yaml, file: "spec.yml", baseDirectory: baseDirectory, checkSources: checkSources)
            Issue.record("expected an error, parsed \(spec.name)", sourceLocation: sourceLocation)
            return nil
        } catch let error as SpecError {
            return error
        } catch {
            Issue.record("expected a SpecError, got \(error)", sourceLocation: sourceLocation)
            return nil
        }
    }

    /// A minimal valid spec to which a test appends one bad section.
    static let header = "name: t\ninit: [deb:busybox-static]\n"
}

extension SpecError {
    /// "line:column" for compact assertions.
    var position: String { "\(location.line):\(location.column)" }
}
