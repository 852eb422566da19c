// Typed, position-keeping access to composed Yams nodes: every read either returns a value or
// throws a SpecError that points at the offending node, so nothing is ever silently ignored.

import Yams
import IngotContract

/// Helpers shared by the spec and board readers; `file` is used for every SourceLocation.
struct YAMLDocument {
    let file: String

    /// Composes `yaml`, mapping Yams' own errors to a SpecError at the same position.
    func compose(_ yaml: String) throws -> Node? {
        do {
            return try Yams.compose(yaml: yaml)
        } catch let error as YamlError {
            throw specError(from: error)
        }
    }

    func location(_ node: Node) -> SourceLocation {
        SourceLocation(file: file, mark: node.mark)
    }

    func specError(from error: YamlError) -> SpecError {
        let hint = "fix the YAML syntax at this position (check indentation, quotes and ':' spacing)"
        switch error {
        case let .scanner(context, problem, mark, _),
            let .parser(context, problem, mark, _),
            let .composer(context, problem, mark, _):
            let context = context.map { "\($0.text) (at line \($0.mark.line), column \($0.mark.column)) " } ?? ""
            return SpecError(
                SourceLocation(file: file, mark: mark), "malformed YAML: \(context)\(problem)", hint: hint)
        case let .duplicatedKeysInMapping(duplicates, context):
            let keys = duplicates.map { "'\($0)'" }.joined(separator: ", ")
            return SpecError(
                SourceLocation(file: file, mark: context.mark), "duplicate key \(keys) in the same mapping",
                hint: "each key may appear once; merge the two entries")
        case let .reader(problem, offset, _, yaml):
            var line = 1
            var column = 1
            if let offset {
                for character in yaml.prefix(offset) {
                    if character == "\n" { line += 1; column = 1 } else { column += 1 }
                }
            }
            return SpecError(
                SourceLocation(file: file, line: line, column: column), "unreadable YAML: \(problem)",
                hint: "save the file as UTF-8 text")
        default:
            return SpecError(SourceLocation(file: file, line: 1, column: 1), "malformed YAML: \(error)", hint: hint)
        }
    }

    /// "a mapping", "a list", "a string"... for error messages.
    static func kind(of node: Node) -> String {
        switch node {
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        case .scalar(let scalar):
            if scalar.style == .plain || scalar.style == .any {
                switch node.tag.rawValue {
                case Tag.Name.null.rawValue: return "nothing (null)"
                case Tag.Name.bool.rawValue: return "a boolean"
                case Tag.Name.int.rawValue, Tag.Name.float.rawValue: return "a number"
                default: break
                }
            }
            return "a string"
        }
    }

    static func isNull(_ node: Node) -> Bool {
        guard case .scalar(let scalar) = node, scalar.style == .plain || scalar.style == .any else { return false }
        return node.tag.rawValue == Tag.Name.null.rawValue
    }
}

/// A YAML mapping being read: knows its keys' positions and what it is called in messages.
struct MappingReader {
    let document: YAMLDocument
    let node: Node
    /// How messages name this mapping: "the top level", "service 'web'", "'kernel'".
    let context: String
    private(set) var entries: [(key: String, keyNode: Node, value: Node)] = []

    /// - Parameter name: How to name `node` if it is not a mapping ("'kernel'", "each 'files' entry").
    init(_ node: Node, context: String, name: String, document: YAMLDocument) throws {
        self.document = document
        self.node = node
        self.context = context
        guard case .mapping(let mapping) = node else {
            throw SpecError(
                document.location(node), "\(name) must be a mapping, found \(YAMLDocument.kind(of: node))",
                hint: "write it as 'key: value' lines indented under it")
        }
        for (key, value) in mapping {
            guard case .scalar(let scalar) = key else {
                throw SpecError(
                    document.location(key),
                    "keys in \(context) must be plain names, found \(YAMLDocument.kind(of: key))",
                    hint: "use a plain word as the key")
            }
            entries.append((scalar.string, key, value))
        }
    }

    /// Rejects keys not in `allowed`; `unsupported` keys get a dedicated "not supported" message.
    func checkKeys(allowed: [String], unsupported: [String: String] = [:]) throws {
        for entry in entries where !allowed.contains(entry.key) {
            let location = document.location(entry.keyNode)
            if let why = unsupported[entry.key] {
                throw SpecError(
                    location, "'\(entry.key)' in \(context) is a LinuxKit field that Ingot does not support",
                    hint: why)
            }
            if let near = suggestion(for: entry.key, among: allowed) {
                throw SpecError(
                    location, "unknown key '\(entry.key)' in \(context); did you mean '\(near)'?",
                    hint: "rename it to '\(near)'")
            }
            throw SpecError(
                location, "unknown key '\(entry.key)' in \(context)",
                hint: "valid keys are: \(allowed.joined(separator: ", "))")
        }
    }

    /// The value node of `key`, or nil when absent or explicitly null.
    func value(_ key: String) -> Node? {
        guard let entry = entries.first(where: { $0.key == key }) else { return nil }
        return YAMLDocument.isNull(entry.value) ? nil : entry.value
    }

    func has(_ key: String) -> Bool { value(key) != nil }

    func location(_ key: String) -> SourceLocation {
        if let entry = entries.first(where: { $0.key == key }) { return document.location(entry.value) }
        return document.location(node)
    }

    func missing(_ key: String, hint: String) -> SpecError {
        SpecError(document.location(node), "missing required field '\(key)' in \(context)", hint: hint)
    }

    func string(_ key: String) throws -> String? {
        guard let node = value(key) else { return nil }
        return try document.string(node, name: "'\(key)'")
    }

    func requiredString(_ key: String, hint: String) throws -> String {
        guard let value = try string(key) else { throw missing(key, hint: hint) }
        return value
    }

    func bool(_ key: String) throws -> Bool? {
        guard let node = value(key) else { return nil }
        guard case .scalar = node, let value = node.bool else {
            throw SpecError(
                document.location(node), "'\(key)' must be true or false, found \(YAMLDocument.kind(of: node))",
                hint: "write 'true' or 'false'")
        }
        return value
    }

    func int(_ key: String) throws -> Int? {
        guard let node = value(key) else { return nil }
        guard case .scalar(let scalar) = node, let value = Int(scalar.string) else {
            throw SpecError(
                document.location(node), "'\(key)' must be a whole number, found \(YAMLDocument.kind(of: node))",
                hint: "write a number such as 2")
        }
        return value
    }

    func double(_ key: String) throws -> Double? {
        guard let node = value(key) else { return nil }
        guard case .scalar(let scalar) = node, let value = Double(scalar.string), value.isFinite else {
            throw SpecError(
                document.location(node), "'\(key)' must be a number, found \(YAMLDocument.kind(of: node))",
                hint: "write a number such as 30")
        }
        return value
    }

    func stringList(_ key: String) throws -> [String]? {
        guard let node = value(key) else { return nil }
        return try document.stringList(node, name: "'\(key)'")
    }

    func mapping(_ key: String, context: String) throws -> MappingReader? {
        guard let node = value(key) else { return nil }
        return try MappingReader(node, context: context, name: "'\(key)'", document: document)
    }

    func list(_ key: String) throws -> [Node]? {
        guard let node = value(key) else { return nil }
        guard case .sequence(let sequence) = node else {
            throw SpecError(
                document.location(node), "'\(key)' must be a list, found \(YAMLDocument.kind(of: node))",
                hint: "write one '- item' line per entry")
        }
        return Array(sequence)
    }
}

extension YAMLDocument {
    func string(_ node: Node, name: String) throws -> String {
        guard case .scalar(let scalar) = node, !YAMLDocument.isNull(node) else {
            throw SpecError(
                location(node), "\(name) must be a string, found \(YAMLDocument.kind(of: node))",
                hint: "write a single value on the same line")
        }
        try checkNoNUL(scalar.string, name: name, at: node)
        return scalar.string
    }

    /// NUL cannot be part of a file name, an argument or a config line; it would be cut silently.
    func checkNoNUL(_ text: String, name: String, at node: Node) throws {
        guard !text.utf8.contains(0) else {
            throw SpecError(
                location(node), "\(name) '\(TextRules.display(text))' contains a NUL character (\\0)",
                hint:
                    "remove the \\0; spec text cannot hold NUL characters (put binary content in a file and use 'source:')"
            )
        }
    }

    func stringList(_ node: Node, name: String) throws -> [String] {
        guard case .sequence(let sequence) = node else {
            throw SpecError(
                location(node), "\(name) must be a list of strings, found \(YAMLDocument.kind(of: node))",
                hint: "write it as [\"a\", \"b\"] or as '- a' lines")
        }
        return try sequence.map { item in
            guard case .scalar(let scalar) = item, !YAMLDocument.isNull(item) else {
                throw SpecError(
                    location(item), "\(name) must be a list of strings, found \(YAMLDocument.kind(of: item)) in it",
                    hint: "quote each entry as a string")
            }
            try checkNoNUL(scalar.string, name: name, at: item)
            return scalar.string
        }
    }
}
