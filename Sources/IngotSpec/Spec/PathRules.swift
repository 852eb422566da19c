// Small validation rules shared by the spec and board readers: host paths, in-image paths,
// hostnames, Debian package names and sizes such as "64M".

enum PathRules {
    /// `path` made absolute against `base` and normalised (`.`/`..`/`//` removed).
    static func resolve(_ path: String, against base: String) -> String {
        let joined = path.hasPrefix("/") ? path : base + "/" + path
        var parts: [Substring] = []
        for component in joined.split(separator: "/") {
            switch component {
            case ".": continue
            case "..": if !parts.isEmpty { parts.removeLast() }
            default: parts.append(component)
            }
        }
        return "/" + parts.joined(separator: "/")
    }

    /// An in-image path normalised to relative form ("etc/motd"), or nil when it is empty or
    /// escapes the root through `..`.
    static func imagePath(_ path: String) -> String? {
        var parts: [Substring] = []
        for component in path.split(separator: "/") {
            switch component {
            case ".": continue
            case "..": return nil
            default: parts.append(component)
            }
        }
        return parts.isEmpty ? nil : parts.joined(separator: "/")
    }

    /// RFC 1123 label: 1–63 letters, digits or '-', not starting or ending with '-'.
    static func isHostnameLabel(_ text: String) -> Bool {
        guard (1...63).contains(text.utf8.count), text.first != "-", text.last != "-" else { return false }
        return text.unicodeScalars.allSatisfy {
            $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "-")
        }
    }

    /// Debian policy: lower-case letters, digits, '+', '-', '.'; at least two characters, starting alphanumeric.
    static func isDebianPackageName(_ text: String) -> Bool {
        guard text.count >= 2, let first = text.unicodeScalars.first,
            ("a"..."z").contains(first) || ("0"..."9").contains(first)
        else { return false }
        return text.unicodeScalars.allSatisfy {
            ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "+" || $0 == "-" || $0 == "."
        }
    }

    /// A service name: letters, digits, '-', '_', '.', at most 63 characters, not starting with '.'.
    static func isServiceName(_ text: String) -> Bool {
        guard (1...63).contains(text.utf8.count), text.first != ".", text.first != "-" else { return false }
        return text.unicodeScalars.allSatisfy {
            $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "-_.".unicodeScalars.contains($0))
        }
    }
}

/// Parses a size such as "64M", "1G", "512K", "1.5G", "4096" (bytes) or "64MiB"; binary units.
/// - Parameter text: The size as written.
/// - Returns: Bytes, or nil when `text` is not a size (or is zero or overflows).
public func parseByteSize(_ text: String) -> UInt64? {
    var number = text.trimmingWhitespace()
    var unit = ""
    while let last = number.last, last.isLetter {
        unit = String(last) + unit
        number.removeLast()
    }
    number = number.trimmingWhitespace()
    let multipliers: [String: UInt64] = [
        "": 1, "B": 1, "K": 1 << 10, "KB": 1 << 10, "KIB": 1 << 10, "M": 1 << 20, "MB": 1 << 20, "MIB": 1 << 20,
        "G": 1 << 30, "GB": 1 << 30, "GIB": 1 << 30, "T": 1 << 40, "TB": 1 << 40, "TIB": 1 << 40,
    ]
    guard let multiplier = multipliers[unit.uppercased()], !number.isEmpty,
        number.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == ".") }),
        let value = Double(number), value > 0
    else { return nil }
    let bytes = value * Double(multiplier)
    guard bytes < Double(UInt64.max / 2), bytes.rounded() == bytes else { return nil }
    return UInt64(bytes)
}
