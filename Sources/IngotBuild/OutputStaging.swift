// Outputs that are never partial, stale or mixed. A build writes every output into a hidden
// staging directory inside the output directory, holding the prefix's lock (`OutputLock`), and
// commits the set in this order:
//   1. the new manifest is written into the staging directory;
//   2. the previous manifest of the prefix is removed — from here on no manifest vouches for a
//      half-replaced set, so readers (which go through the manifest only) refuse it;
//   3. the new outputs are renamed into place;
//   4. outputs of the same prefix the new manifest does not list are removed (stale formats);
//   5. the new manifest is renamed into place: the one rename that makes the new set visible.
// A build killed in 2–5 leaves no manifest (readers say so) and the next build of the prefix
// replaces everything. A failed or interrupted build (an error, or SIGINT/SIGTERM/SIGHUP)
// removes its staging directory and every directory it created for `-o`; the next build in the
// same directory removes staging directories whose build process is gone (SIGKILL) and lock
// files nobody holds.

import Dispatch
import Foundation
import IngotContract
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// What an unfinished build has made so far, for the interrupt handler and `abort()`: the
/// directories it created for `-o`, its prefix lock, its staging directory.
final class StagingCleanup: Sendable {
    private struct State {
        var created: [String] = []
        var lock: OutputLock?
        var directory: String?
    }
    private let state = Mutex(State())

    func add(created directories: [String]) { state.withLock { $0.created += directories } }
    func set(lock: OutputLock) { state.withLock { $0.lock = lock } }
    func set(directory: String) { state.withLock { $0.directory = directory } }

    /// Removes the staging directory, releases the lock (removing its file) and removes the
    /// directories the build created (when empty). Idempotent.
    func run() {
        state.withLock { state in
            if let directory = state.directory { try? FileManager.default.removeItem(atPath: directory) }
            state.directory = nil
            state.lock?.release()
            OutputStaging.removeCreated(state.created)
            state.created = []
        }
    }
}

/// One build's staging directory, its prefix lock, and the commit of its outputs.
public final class OutputStaging: Sendable {
    /// Where the committed outputs go and what they are called.
    public let layout: ArtifactLayout
    /// The staging directory (`DIR/.ingot-staging-NAME-BOARD-PID`).
    public let directory: String
    private let lock: OutputLock
    private let cleanup: StagingCleanup
    private let token: Int
    /// Set by `commit` or `abort`, whichever comes first; the other then does nothing.
    private let committed = Mutex(false)

    /// The output directory.
    public var outputDirectory: String { layout.directory }

    /// Name prefix of staging directories; the build's PID ends the name.
    static let stagingPrefix = ".ingot-staging-"

    private init(layout: ArtifactLayout, directory: String, lock: OutputLock, cleanup: StagingCleanup, token: Int) {
        self.layout = layout
        self.directory = directory
        self.lock = lock
        self.cleanup = cleanup
        self.token = token
    }

    /// Creates the output directory (and its missing parents), takes the prefix lock (waiting
    /// for another build of the same prefix), removes what dead builds left, and makes the
    /// staging directory. An interrupt from here on undoes all of it.
    /// - Parameters:
    ///   - layout: the outputs' directory and `NAME-BOARD`.
    ///   - onWait: told once, in a sentence, when another build holds the prefix.
    /// - Throws: `Builder.Error.outputNotDirectory` / `.outputUnwritable`.
    public static func open(layout: ArtifactLayout, onWait: (String) -> Void = { _ in }) async throws -> OutputStaging {
        let cleanup = StagingCleanup()
        let token = InterruptCleanup.shared.add { cleanup.run() }
        do {
            func ensure() throws { cleanup.add(created: try createDirectories(layout.directory)) }
            try ensure()
            let lock: OutputLock
            do {
                lock = try await OutputLock.acquire(
                    path: OutputLock.path(directory: layout.directory, base: layout.base), onWait: onWait,
                    ensureDirectory: ensure)
            } catch let error as Errno {
                throw Builder.Error.outputUnwritable(
                    path: layout.directory, location: layout.directory, reason: error.description)
            }
            cleanup.set(lock: lock)
            removeLeftovers(in: layout.directory)
            let staging = layout.directory + "/" + stagingPrefix + layout.base + "-\(getpid())"
            try? FileManager.default.removeItem(atPath: staging)
            guard mkdir(staging, 0o755) == 0 else {
                throw Builder.Error.outputUnwritable(
                    path: layout.directory, location: layout.directory, reason: String(cString: strerror(errno)))
            }
            cleanup.set(directory: staging)
            return OutputStaging(layout: layout, directory: staging, lock: lock, cleanup: cleanup, token: token)
        } catch {
            InterruptCleanup.shared.remove(token)
            cleanup.run()
            throw error
        }
    }

    /// Creates `path` and its missing parents one by one.
    /// - Returns: the directories this call created, outermost first.
    /// - Throws: `.outputNotDirectory` when a component is a file, `.outputUnwritable` when a
    ///   directory cannot be created (read-only file system, permissions).
    static func createDirectories(_ path: String) throws -> [String] {
        var created: [String] = []
        var current = path.hasPrefix("/") ? "/" : ""
        for component in path.split(separator: "/") {
            let parent = current.isEmpty ? "." : current
            current =
                current.isEmpty ? String(component) : (current.hasSuffix("/") ? current : current + "/") + component
            var info = stat()
            if stat(current, &info) == 0 {
                guard info.st_mode & S_IFMT == S_IFDIR else {
                    removeCreated(created)
                    throw Builder.Error.outputNotDirectory(path: path, blocking: current)
                }
                continue
            }
            if mkdir(current, 0o755) == 0 {
                created.append(current)
            } else if errno != EEXIST {
                let reason = String(cString: strerror(errno))
                removeCreated(created)
                throw Builder.Error.outputUnwritable(path: path, location: parent, reason: reason)
            }
        }
        return created
    }

    /// Removes directories a build created, innermost first, as long as they are empty.
    static func removeCreated(_ directories: [String]) {
        for directory in directories.reversed() where rmdir(directory) != 0 { break }
    }

    /// Removes staging directories of builds whose process is gone, and lock files nobody holds.
    /// - Parameter directory: an output directory.
    /// - Returns: the names removed.
    @discardableResult
    static func removeLeftovers(in directory: String) -> [String] {
        var removed: [String] = []
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] {
            let path = directory + "/" + name
            if name.hasPrefix(stagingPrefix), let dash = name.lastIndex(of: "-"),
                let pid = Int32(name[name.index(after: dash)...]), pid > 0, pid != getpid(),
                kill(pid, 0) != 0, errno == ESRCH
            {
                if (try? FileManager.default.removeItem(atPath: path)) != nil { removed.append(name) }
            } else if name.hasPrefix(".ingot-lock-"), !OutputLock.isHeld(path: path) {
                OutputLock.removeIfStale(path: path)
                if !FileManager.default.fileExists(atPath: path) { removed.append(name) }
            }
        }
        return removed
    }

    /// Path inside the staging directory of the output with `role`.
    public func path(_ role: ArtifactRole, dtb: String? = nil) -> String {
        directory + "/" + layout.fileName(role, dtb: dtb)
    }

    /// The manifest record of a staged output: its name, role, size and sha256.
    /// - Parameters:
    ///   - role: the output's role (`dtb` names a device tree output's file).
    ///   - sha256: the digest when the writer already computed it while writing (else the file is read).
    public func record(_ role: ArtifactRole, dtb: String? = nil, sha256 known: String? = nil) throws
        -> BuildManifest.OutputRecord
    {
        let file = path(role, dtb: dtb)
        var info = stat()
        guard stat(file, &info) == 0 else {
            throw Builder.Error.writeFailed(path: file, reason: String(cString: strerror(errno)))
        }
        return .init(
            name: layout.fileName(role, dtb: dtb), role: role, size: Int64(info.st_size),
            sha256: try known ?? BuildManifest.sha256(ofFile: file))
    }

    /// Commits the staged outputs `manifest` lists, then the manifest (see the file comment).
    /// - Parameters:
    ///   - manifest: the new manifest; its `outputs` name the staged files.
    ///   - alsoStale: further names of this prefix to remove when not listed (the board's DTBs).
    public func commit(_ manifest: BuildManifest, alsoStale: [String] = []) throws {
        let directoryOut = layout.directory
        let manifestName = layout.fileName(.manifest)
        let staged = directory + "/" + manifestName
        do {
            try manifest.encoded().write(to: URL(fileURLWithPath: staged))
        } catch {
            throw Builder.Error.writeFailed(
                path: staged, reason: (error as NSError).localizedFailureReason ?? "\(error)")
        }
        let final = layout.path(.manifest)
        let previous = (try? BuildManifest.load(path: final))?.outputs.map(\.name) ?? []
        func fail(_ name: String) -> Builder.Error {
            .commitFailed(name: name, directory: directoryOut, reason: String(cString: strerror(errno)))
        }
        // 2. The previous set is no longer vouched for.
        guard unlink(final) == 0 || errno == ENOENT else { throw fail(manifestName) }
        // 3. The new outputs move in.
        let names = manifest.outputs.map(\.name)
        for name in names {
            guard rename(directory + "/" + name, directoryOut + "/" + name) == 0 else { throw fail(name) }
        }
        // 4. Nothing of the prefix stays that the new manifest does not list.
        var stale = Set(previous).union(alsoStale)
        for role in ArtifactRole.allCases where role != .dtb && role != .manifest {
            stale.insert(layout.fileName(role))
        }
        stale.subtract(names)
        stale.remove(manifestName)
        for name in stale.sorted() where !name.contains("/") && !name.isEmpty {
            unlink(directoryOut + "/" + name)
        }
        // 5. The new manifest makes the set visible.
        guard rename(staged, final) == 0 else { throw fail(manifestName) }
        let dirFD = Glibc.open(directoryOut, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dirFD >= 0 {
            fsync(dirFD)
            close(dirFD)
        }
        committed.withLock { $0 = true }
        InterruptCleanup.shared.remove(token)
        try? FileManager.default.removeItem(atPath: directory)
        lock.release()
    }

    /// Removes everything staged, the lock file and the directories this build created.
    public func abort() {
        let first = committed.withLock { committed in
            defer { committed = true }
            return !committed
        }
        guard first else { return }
        InterruptCleanup.shared.remove(token)
        cleanup.run()
    }

    deinit { abort() }
}
