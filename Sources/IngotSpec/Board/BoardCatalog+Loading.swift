// BoardCatalog: reads every boards/*.yml into BoardProfiles with the same strictness as the spec
// (unknown keys, wrong types, bad enum values and invalid regexes point at file:line:column), and
// finds boards by name with a "did you mean" suggestion.

import Foundation
import Yams
import IngotContract

/// All board profiles of one directory.
public struct BoardCatalog: Sendable, Hashable {
    /// The profiles, sorted by name.
    public var boards: [BoardProfile]
    /// The directory they were read from.
    public var directory: String

    /// Errors about the catalog as a whole (problems inside a file are `SpecError`s).
    public enum Error: Swift.Error, CustomStringConvertible, Sendable, Hashable {
        case unreadableDirectory(String)
        case empty(String)
        case unknownBoard(name: String, available: [String], suggestion: String?)

        public var description: String {
            switch self {
            case .unreadableDirectory(let path):
                return
                    "cannot read the boards directory '\(path)' — set INGOT_BOARDS or pass the directory that holds x86_64-bios.yml etc."
            case .empty(let path):
                return
                    "no board profiles (*.yml) in '\(path)' — point INGOT_BOARDS at the repository's boards/ directory"
            case .unknownBoard(let name, let available, let suggestion):
                let near = suggestion.map { "; did you mean '\($0)'?" } ?? ""
                return "unknown board '\(name)'\(near) — available boards: \(available.joined(separator: ", "))"
            }
        }
    }

    /// Creates a catalog from already-loaded profiles.
    public init(boards: [BoardProfile], directory: String) {
        self.boards = boards.sorted { $0.name < $1.name }
        self.directory = directory
    }

    /// Reads every `*.yml` in `directory`.
    /// - Parameter directory: The boards directory.
    /// - Throws: `BoardCatalog.Error` for the directory, `SpecError` for a bad profile.
    public static func load(directory: String) throws -> BoardCatalog {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory)
        } catch {
            throw Error.unreadableDirectory(directory)
        }
        let files = names.filter { $0.hasSuffix(".yml") && !$0.hasPrefix(".") }.sorted()
        guard !files.isEmpty else { throw Error.empty(directory) }
        var boards: [BoardProfile] = []
        for file in files {
            let path = directory.hasSuffix("/") ? directory + file : directory + "/" + file
            let text: String
            do {
                text = try String(contentsOfFile: path, encoding: .utf8)
            } catch {
                throw SpecError(
                    SourceLocation(file: path, line: 1, column: 1), "cannot read the board profile",
                    hint: "check that it is readable UTF-8 text")
            }
            boards.append(try BoardReader.parse(yaml: text, file: path, name: String(file.dropLast(4))))
        }
        return BoardCatalog(boards: boards, directory: directory)
    }

    /// Parses one board profile's text (the catalog uses this for each file).
    /// - Parameters:
    ///   - yaml: The YAML text.
    ///   - file: File name for locations.
    ///   - name: The board name (the file name without `.yml`); the `name:` key must match it.
    public static func parseProfile(yaml: String, file: String, name: String) throws -> BoardProfile {
        try BoardReader.parse(yaml: yaml, file: file, name: name)
    }

    /// The board called `name`.
    /// - Throws: `BoardCatalog.Error.unknownBoard` listing the boards and the nearest name.
    public func board(named name: String) throws -> BoardProfile {
        if let board = boards.first(where: { $0.name == name }) { return board }
        let available = boards.map(\.name)
        throw Error.unknownBoard(name: name, available: available, suggestion: suggestion(for: name, among: available))
    }

    /// The boards directory to use by default: `$INGOT_BOARDS`, else `./boards`, else `boards/`
    /// beside the `Package.swift` found by walking up from the executable.
    public static func locateDefaultDirectory() -> String? {
        let fileManager = FileManager.default
        func isDirectory(_ path: String) -> Bool {
            var flag: ObjCBool = false
            return fileManager.fileExists(atPath: path, isDirectory: &flag) && flag.boolValue
        }
        if let fromEnvironment = ProcessInfo.processInfo.environment["INGOT_BOARDS"], !fromEnvironment.isEmpty {
            return fromEnvironment
        }
        let cwd = fileManager.currentDirectoryPath
        let local = PathRules.resolve("boards", against: cwd)
        if isDirectory(local) { return local }
        let executable = Bundle.main.executablePath ?? CommandLine.arguments.first ?? ""
        var current = PathRules.resolve(
            (try? fileManager.destinationOfSymbolicLink(atPath: executable)) ?? executable, against: cwd)
        while current != "/" && !current.isEmpty {
            if let slash = current.lastIndex(of: "/") {
                current = slash == current.startIndex ? "/" : String(current[..<slash])
            } else {
                break
            }
            let candidate = PathRules.resolve("boards", against: current)
            if fileManager.fileExists(atPath: PathRules.resolve("Package.swift", against: current)),
                isDirectory(candidate)
            {
                return candidate
            }
        }
        return nil
    }
}
