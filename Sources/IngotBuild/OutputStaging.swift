// All outputs of a build are written into a hidden staging directory inside the output
// directory and renamed into place only when every one of them is complete. A failed or
// interrupted build (an error, or SIGINT/SIGTERM/SIGHUP) leaves nothing behind, and removes an
// output directory it created.

import Dispatch
import Foundation

public final class OutputStaging {
    public let outputDirectory: String
    public let directory: String
    private let createdOutputDirectory: Bool
    private var committed = false
    private var names: [String] = []

    public init(outputDirectory: String, tag: String) throws {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        if fm.fileExists(atPath: outputDirectory, isDirectory: &isDir) {
            guard isDir.boolValue else {
                throw ComposeError(location: nil, message: "output path \(outputDirectory) exists and is not a directory; pass a directory to -o")
            }
            createdOutputDirectory = false
        } else {
            do {
                try fm.createDirectory(atPath: outputDirectory, withIntermediateDirectories: true)
            } catch {
                throw ComposeError(location: nil, message: "cannot create output directory \(outputDirectory): \(error.localizedDescription)")
            }
            createdOutputDirectory = true
        }
        self.outputDirectory = outputDirectory
        directory = outputDirectory + "/.ingot-staging-\(tag)-\(getpid())"
        try? fm.removeItem(atPath: directory)
        try fm.createDirectory(atPath: directory, withIntermediateDirectories: false)
        let (dir, out, created) = (directory, outputDirectory, createdOutputDirectory)
        token = InterruptCleanup.shared.add { Self.discard(directory: dir, outputDirectory: out, created: created) }
    }

    private var token = 0

    /// Removes a staging directory (and the output directory when the build created it and it
    /// is empty). Runs on abort and from the signal handler.
    static func discard(directory: String, outputDirectory: String, created: Bool) {
        try? FileManager.default.removeItem(atPath: directory)
        if created, (try? FileManager.default.contentsOfDirectory(atPath: outputDirectory))?.isEmpty ?? false {
            try? FileManager.default.removeItem(atPath: outputDirectory)
        }
    }

    /// Path inside the staging directory for an output called `name`.
    public func path(_ name: String) -> String {
        if !names.contains(name) { names.append(name) }
        return directory + "/" + name
    }

    /// Moves every staged output into the output directory.
    public func commit() throws {
        for name in names {
            let from = directory + "/" + name
            guard FileManager.default.fileExists(atPath: from) else { continue }
            guard rename(from, outputDirectory + "/" + name) == 0 else {
                throw ComposeError(
                    location: nil,
                    message: "cannot move \(name) into \(outputDirectory): \(String(cString: strerror(errno)))")
            }
        }
        committed = true
        InterruptCleanup.shared.remove(token)
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Removes everything staged (and the output directory if this build created it and it is empty).
    public func abort() {
        InterruptCleanup.shared.remove(token)
        Self.discard(directory: directory, outputDirectory: outputDirectory, created: createdOutputDirectory)
    }

    deinit {
        if !committed { abort() }
    }
}
