// Rules for text that leaves the spec for somewhere stricter: names that become path components
// (squashfs, FAT, tar and cpio entries), values that reach the kernel command line or a
// bootloader's config file, and how such text is shown back to the user in an error message
// (a NUL or a newline must be visible, not silently cut or turned into a line break).

/// Checks for spec text that becomes file names, kernel arguments or bootloader config lines.
public enum TextRules {
    /// The longest file name (one path component) Linux, squashfs and ext4 accept, in bytes.
    public static let maxNameBytes = 255
    /// The longest path, in bytes (Linux PATH_MAX minus the terminating NUL).
    public static let maxPathBytes = 4095
    /// The longest kernel command line the arm64 and x86 kernels keep (COMMAND_LINE_SIZE − 1).
    public static let maxCommandLineBytes = 2047
    /// Kernel arguments Ingot sets itself; a spec must not set or override them.
    public static let reservedArgumentPrefixes = ["ingot."]

    /// `text` with control characters, quotes and backslashes escaped (`\0`, `\n`, `\u{1b}`), so
    /// an error message shows exactly what was written.
    public static func display(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\0": out += "\\0"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\\": out += "\\\\"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F || (0x80..<0xA0).contains(scalar.value) {
                    out += "\\u{" + String(scalar.value, radix: 16) + "}"
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out
    }

    /// Why `component` cannot be a file name inside an image, or nil when it can.
    public static func nameProblem(_ component: Substring) -> String? {
        if component.utf8.contains(0) { return "contains a NUL character (\\0)" }
        if component.utf8.count > maxNameBytes {
            return "has a component of \(component.utf8.count) bytes; file names are limited to \(maxNameBytes) bytes"
        }
        if component.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) {
            return "contains a control character"
        }
        return nil
    }

    /// Why `path` (in-image, `/`-separated) cannot be written into an image, or nil when it can.
    public static func pathProblem(_ path: String) -> String? {
        if path.utf8.count > maxPathBytes {
            return "is \(path.utf8.count) bytes long; paths are limited to \(maxPathBytes) bytes"
        }
        for component in path.split(separator: "/") {
            if let problem = nameProblem(component) { return problem }
        }
        return nil
    }

    /// Why `text` cannot go onto a kernel command line (and so into syslinux.cfg, extlinux.conf
    /// or a systemd-boot entry, where a line break starts a new directive), or nil when it can.
    /// - Parameter allowReserved: accept `ingot.*` arguments (Ingot's own assembly).
    public static func commandLineProblem(_ text: String, allowReserved: Bool = false) -> String? {
        if let bad = text.unicodeScalars.first(where: { $0.value < 0x20 || $0.value == 0x7F }) {
            let what =
                bad == "\n" || bad == "\r" ? "a line break" : bad == "\0" ? "a NUL character" : "a control character"
            return "contains \(what) (\(display(String(bad)))), which would end the bootloader's config line"
        }
        if text.unicodeScalars.contains(where: { !$0.isASCII }) {
            return "contains non-ASCII characters; kernel command lines are ASCII"
        }
        if text.utf8.filter({ $0 == UInt8(ascii: "\"") }).count % 2 != 0 {
            return "has an unbalanced double quote, which would swallow the arguments after it"
        }
        if text.utf8.count > maxCommandLineBytes {
            return "is \(text.utf8.count) bytes long; the kernel keeps at most \(maxCommandLineBytes)"
        }
        if !allowReserved {
            for argument in arguments(text) {
                if let prefix = reservedArgumentPrefixes.first(where: { argument.hasPrefix($0) }) {
                    return "sets '\(argument)'; '\(prefix)*' arguments are Ingot's own"
                }
            }
        }
        return nil
    }

    /// Splits a command line into arguments the way the kernel does (spaces outside quotes).
    static func arguments(_ text: String) -> [String] {
        var out: [String] = []
        var current = ""
        var quoted = false
        for character in text {
            if character == "\"" { quoted.toggle() }
            if character == " " && !quoted {
                if !current.isEmpty { out.append(current) }
                current = ""
            } else {
                current.append(character)
            }
        }
        if !current.isEmpty { out.append(current) }
        return out
    }

    /// Why `path` cannot be a mount point Ingot passes on the kernel command line (one argument,
    /// read back by a shell script), or nil when it can. Allowed: letters, digits and `/ . _ - + @`.
    public static func mountPointProblem(_ path: String) -> String? {
        if let bad = path.unicodeScalars.first(where: { scalar in
            !(scalar.isASCII
                && (("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar) || ("0"..."9").contains(scalar)
                    || "/._-+@".unicodeScalars.contains(scalar)))
        }) {
            let what = bad == " " ? "a space" : "'\(display(String(bad)))'"
            return
                "contains \(what); a mount point reaches the kernel command line and may only use letters, digits and / . _ - + @"
        }
        return pathProblem(path)
    }
}
