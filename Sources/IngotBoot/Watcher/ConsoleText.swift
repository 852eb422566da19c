// Console byte handling shared by the watcher and the HTML report: splitting a byte stream into
// lines (tolerating \r, partial lines and over-long lines) and removing ANSI escape sequences.

/// Splits console bytes into lines; keeps the unfinished tail for the next chunk.
public struct ConsoleLineSplitter: Sendable {
    /// Lines longer than this are cut, so a console that never prints a newline stays bounded.
    public var maximumLineLength: Int
    private var pending: [UInt8] = []

    /// Creates a splitter.
    /// - Parameter maximumLineLength: bytes after which a line is cut even without a newline.
    public init(maximumLineLength: Int = 16 * 1024) {
        self.maximumLineLength = maximumLineLength
    }

    /// The bytes received after the last newline, cleaned (ANSI and control characters removed).
    public var partialLine: String { ConsoleText.clean(pending) }

    /// Feeds bytes and returns the lines they complete (cleaned, without terminators).
    public mutating func feed<Bytes: Sequence>(_ bytes: Bytes) -> [String] where Bytes.Element == UInt8 {
        var lines: [String] = []
        for byte in bytes {
            if byte == UInt8(ascii: "\n") {
                lines.append(ConsoleText.clean(pending))
                pending.removeAll(keepingCapacity: true)
            } else {
                pending.append(byte)
                if pending.count >= maximumLineLength {
                    lines.append(ConsoleText.clean(pending))
                    pending.removeAll(keepingCapacity: true)
                }
            }
        }
        return lines
    }

    /// Returns the unfinished tail as a last line (at end of stream), if any.
    public mutating func flush() -> String? {
        guard !pending.isEmpty else { return nil }
        defer { pending.removeAll() }
        return ConsoleText.clean(pending)
    }
}

/// Cleaning of raw console text.
public enum ConsoleText {
    /// Decodes `bytes` as UTF-8 (invalid sequences replaced) after removing ANSI escape sequences
    /// (CSI, OSC, two-byte escapes), carriage returns and other C0 controls except tab.
    public static func clean<Bytes: Collection>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var index = bytes.startIndex
        while index != bytes.endIndex {
            let byte = bytes[index]
            if byte == 0x1B {
                index = skipEscape(bytes, from: bytes.index(after: index))
                continue
            }
            if byte >= 0x20 || byte == 0x09 {
                if byte != 0x7F { out.append(byte) }
            }
            index = bytes.index(after: index)
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Splits a whole log into cleaned lines, numbered as the watcher numbers them.
    public static func lines<Bytes: Collection>(_ bytes: Bytes) -> [String] where Bytes.Element == UInt8 {
        var splitter = ConsoleLineSplitter()
        var lines = splitter.feed(bytes)
        if let last = splitter.flush() { lines.append(last) }
        return lines
    }

    /// Returns the index after the escape sequence whose ESC precedes `start`.
    private static func skipEscape<Bytes: Collection>(_ bytes: Bytes, from start: Bytes.Index) -> Bytes.Index
    where Bytes.Element == UInt8 {
        guard start != bytes.endIndex else { return start }
        var index = start
        switch bytes[index] {
        case UInt8(ascii: "["):  // CSI: parameters, intermediates, one final byte
            index = bytes.index(after: index)
            while index != bytes.endIndex {
                let byte = bytes[index]
                index = bytes.index(after: index)
                if byte >= 0x40 && byte <= 0x7E { break }
            }
            return index
        case UInt8(ascii: "]"), UInt8(ascii: "P"), UInt8(ascii: "_"), UInt8(ascii: "^"):  // OSC/DCS: until BEL or ST
            index = bytes.index(after: index)
            while index != bytes.endIndex {
                let byte = bytes[index]
                index = bytes.index(after: index)
                if byte == 0x07 { break }
                if byte == 0x1B, index != bytes.endIndex, bytes[index] == UInt8(ascii: "\\") {
                    return bytes.index(after: index)
                }
            }
            return index
        case UInt8(ascii: "("), UInt8(ascii: ")"), UInt8(ascii: "#"), UInt8(ascii: "%"):  // charset: one more byte
            index = bytes.index(after: index)
            return index == bytes.endIndex ? index : bytes.index(after: index)
        default:  // two-byte escape such as ESC c, ESC 7
            return bytes.index(after: index)
        }
    }
}
