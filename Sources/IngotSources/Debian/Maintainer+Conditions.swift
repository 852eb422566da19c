// The conditions around maintainer-script commands, read for a fresh install: `$1` is `install`
// (preinst) or `configure` (postinst), `$2` (the old version) is empty, so `[ -z "$2" ]` holds,
// `[ -n "$2" ]` does not and `dpkg --compare-versions "$2" lt-nl V` is false. File tests
// (`[ -L /lib ]`, `[ ! -d /lib64 ]`) are kept as guards and decided against the closure's files
// when the image is configured; anything else is unknown and taken (the command is reproduced).

import Foundation

/// A condition as far as it can be known before the script runs.
public indirect enum Guard: Sendable, Hashable, Codable {
    case known(Bool)
    case unknown
    /// `test -OP PATH` with OP one of e, f, d, L, h, x, s, r.
    case path(op: String, path: String)
    case not(Guard)
    case and(Guard, Guard)
    case or(Guard, Guard)

    /// The value given what the image holds at each path (nil: not known).
    /// - Parameter kind: what is at a path (nil: nothing); when nil itself, file tests are unknown.
    public func evaluate(_ kind: ((String) -> Debian.Entry.Kind?)?) -> Bool? {
        switch self {
        case .known(let b): return b
        case .unknown: return nil
        case .path(let op, let path):
            guard let kind else { return nil }
            let k = kind(path)
            switch op {
            case "e", "r", "s": return k != nil
            case "f": return k == .file || k == .hardlink
            case "d": return k == .directory
            case "L", "h": return k == .symlink
            case "x": return k == .file || k == .directory
            default: return nil
            }
        case .not(let g): return g.evaluate(kind).map { !$0 }
        case .and(let a, let b):
            let x = a.evaluate(kind)
            let y = b.evaluate(kind)
            if x == false || y == false { return false }
            return x == true && y == true ? true : nil
        case .or(let a, let b):
            let x = a.evaluate(kind)
            let y = b.evaluate(kind)
            if x == true || y == true { return true }
            return x == false && y == false ? false : nil
        }
    }

    /// The value without looking at files (nil when it depends on them or is unknown).
    public var constant: Bool? { evaluate(nil) }

    /// Simplifies known parts away.
    var simplified: Guard {
        switch self {
        case .not(let g):
            let s = g.simplified
            if case .known(let b) = s { return .known(!b) }
            return .not(s)
        case .and(let a, let b):
            let (x, y) = (a.simplified, b.simplified)
            if case .known(false) = x { return .known(false) }
            if case .known(false) = y { return .known(false) }
            if case .known(true) = x { return y }
            if case .known(true) = y { return x }
            return .and(x, y)
        case .or(let a, let b):
            let (x, y) = (a.simplified, b.simplified)
            if case .known(true) = x { return .known(true) }
            if case .known(true) = y { return .known(true) }
            if case .known(false) = x { return y }
            if case .known(false) = y { return x }
            return .or(x, y)
        default:
            return self
        }
    }

    /// The guard of one condition command (`[ ... ]`, `test ...`, `dpkg --compare-versions ...`).
    /// - Parameters:
    ///   - words: the command's words (after `if`/`elif`), variables already substituted.
    ///   - argument: `$1` of the script on a fresh install.
    static func of(_ words: [String], argument: String) -> Guard {
        var w = words
        var negate = false
        while w.first == "!" {
            negate.toggle()
            w.removeFirst()
        }
        var g: Guard
        if w.first == "[" || w.first == "[[" {
            w.removeFirst()
            if w.last == "]" || w.last == "]]" { w.removeLast() }
            g = expression(w, argument: argument)
        } else if w.first == "test" {
            g = expression(Array(w.dropFirst()), argument: argument)
        } else if w.first == "dpkg", w.count == 5, w[1] == "--compare-versions" {
            g = compareVersions(w[2], w[3], w[4])
        } else {
            g = .unknown
        }
        return negate ? .not(g) : g
    }

    /// The inside of `[ ... ]`: `-o`/`-a` joins, `!`, unary file and string tests, `=`/`!=`.
    static func expression(_ w: [String], argument: String) -> Guard {
        if let i = w.lastIndex(of: "-o") {
            return .or(
                expression(Array(w[..<i]), argument: argument), expression(Array(w[(i + 1)...]), argument: argument))
        }
        if let i = w.lastIndex(of: "-a") {
            return .and(
                expression(Array(w[..<i]), argument: argument), expression(Array(w[(i + 1)...]), argument: argument))
        }
        if w.first == "!" { return .not(expression(Array(w.dropFirst()), argument: argument)) }
        func value(_ s: String) -> String? {
            switch s {
            case "$1", "${1}": return argument
            case "$2", "${2}": return ""
            default: return s.contains("$") || s.contains("`") ? nil : s
            }
        }
        if w.count == 2, w[0].count == 2, w[0].hasPrefix("-") {
            let op = String(w[0].dropFirst())
            if op == "z" || op == "n" {
                guard let v = value(w[1]) else { return .unknown }
                return .known(op == "z" ? v.isEmpty : !v.isEmpty)
            }
            if "efdLhxsr".contains(op), MaintainerScripts.isLiteral(w[1]), w[1].hasPrefix("/") {
                return .path(op: op, path: w[1])
            }
            return .unknown
        }
        if w.count == 3, ["=", "==", "!="].contains(w[1]) {
            guard let a = value(w[0]), let b = value(w[2]) else { return .unknown }
            return .known((a == b) == (w[1] != "!="))
        }
        return .unknown
    }

    /// `dpkg --compare-versions A OP B` where one side is the empty old version.
    static func compareVersions(_ a: String, _ op: String, _ b: String) -> Guard {
        let emptyLeft = a == "$2" || a == "${2}" || a.isEmpty
        let emptyRight = b == "$2" || b == "${2}" || b.isEmpty
        guard emptyLeft != emptyRight else { return .unknown }
        // dpkg: an empty version is earlier than any other, except for the -nl operators, which
        // treat it as later.
        let emptyIsLess = !op.hasSuffix("-nl")
        let base = op.replacingOccurrences(of: "-nl", with: "")
        let lessThan: Bool  // "A < B"
        let equal = false
        lessThan = emptyLeft ? emptyIsLess : !emptyIsLess
        switch base {
        case "lt", "<<": return .known(lessThan)
        case "le", "<=": return .known(lessThan || equal)
        case "gt", ">>": return .known(!lessThan)
        case "ge", ">=": return .known(!lessThan)
        case "eq", "=": return .known(false)
        case "ne": return .known(true)
        default: return .unknown
        }
    }
}
