// Strict parsing of comma-separated option values into enum cases, shared by every list option
// (`--format`, `--bus`, `--backend`): a list that names nothing, an empty item, an unknown name
// or a repeated one is an error that names the option and the valid choices.

import Foundation

/// Why a comma-separated list option was refused.
public struct ListError: Swift.Error, CustomStringConvertible, Equatable, Sendable {
    /// The option or field, e.g. `--format`.
    public var option: String
    /// What was wrong, in the user's terms.
    public var message: String

    public init(option: String, message: String) {
        self.option = option
        self.message = message
    }

    public var description: String { "\(option): \(message)" }
}

/// Parses `text` as a comma-separated list of `T`'s raw values.
/// - Parameters:
///   - text: what the user typed, e.g. `raw,qcow2`.
///   - option: the option named in errors.
///   - type: the enum to parse into.
/// - Returns: the cases in the order given.
/// - Throws: `ListError` when the list is empty, has an empty item, an unknown or a repeated name.
public func parseNameList<T: RawRepresentable & CaseIterable>(_ text: String, option: String, as type: T.Type) throws
    -> [T]
where T.RawValue == String {
    let names = T.allCases.map(\.rawValue)
    let valid = names.joined(separator: ", ")
    let items = text.split(separator: ",", omittingEmptySubsequences: false).map {
        String($0).trimmingCharacters(in: .whitespaces)
    }
    guard items.contains(where: { !$0.isEmpty }) else {
        throw ListError(option: option, message: "names nothing; give one or more of \(valid), separated by commas")
    }
    var seen: Set<String> = []
    var out: [T] = []
    for item in items {
        guard !item.isEmpty else {
            throw ListError(option: option, message: "'\(text)' has an empty item; remove the extra comma")
        }
        guard let value = T(rawValue: item) else {
            let hint = suggestion(for: item, among: names).map { " Did you mean '\($0)'?" } ?? ""
            throw ListError(option: option, message: "unknown value '\(item)'; choose from \(valid).\(hint)")
        }
        guard seen.insert(item).inserted else {
            throw ListError(option: option, message: "'\(item)' is given twice; name each value once")
        }
        out.append(value)
    }
    return out
}
