// SourceLocation and SpecError: where in a YAML file something was written, and the one error
// type every spec/board problem is reported with (`file:line:column: error: what — hint`).

import Yams

/// A position inside a YAML file (1-based line and column).
public struct SourceLocation: Sendable, Hashable, CustomStringConvertible {
    /// The path of the file, as given to the loader.
    public var file: String
    /// 1-based line number.
    public var line: Int
    /// 1-based column (counted in Unicode scalars, as libyaml does).
    public var column: Int

    /// Creates a location.
    /// - Parameters:
    ///   - file: The file path.
    ///   - line: 1-based line.
    ///   - column: 1-based column.
    public init(file: String, line: Int, column: Int) {
        self.file = file
        self.line = line
        self.column = column
    }

    /// `file:line:column`, the form editors and compilers use.
    public var description: String { "\(file):\(line):\(column)" }

    init(file: String, mark: Mark?) {
        self.init(file: file, line: mark?.line ?? 1, column: mark?.column ?? 1)
    }
}

/// A problem in an appliance spec or a board profile, tied to the place it was written.
///
/// Printed as one paragraph: `file:line:column: error: what — hint`.
public struct SpecError: Swift.Error, Sendable, Hashable, CustomStringConvertible {
    /// Where the problem is.
    public var location: SourceLocation
    /// What is wrong.
    public var message: String
    /// What to do about it (may be empty).
    public var hint: String

    /// Creates an error.
    /// - Parameters:
    ///   - location: Where the problem is.
    ///   - message: What is wrong.
    ///   - hint: What to do about it.
    public init(_ location: SourceLocation, _ message: String, hint: String = "") {
        self.location = location
        self.message = message
        self.hint = hint
    }

    /// `file:line:column: error: message — hint`.
    public var description: String {
        hint.isEmpty
            ? "\(location): error: \(message)"
            : "\(location): error: \(message) — \(hint)"
    }
}
