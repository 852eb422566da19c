// The marker-line protocol shared with the generated init: `@@INGOT <payload> <crc>@@`,
// where crc is the CRC-32 (zlib/IEEE) of the payload as 8 lowercase hex digits, exactly what
// `printf '%s' "$payload" | busybox crc32` prints (busybox-static has no `cksum` applet).
// Parsing finds markers anywhere in a line and accepts only those whose checksum verifies, so
// interleaved kernel text can neither forge a marker nor turn a broken one into a false one.

/// CRC-32 as zlib and busybox `crc32` compute it (reflected polynomial 0xEDB88320).
public enum MarkerChecksum {
    private static let table: [UInt32] = (0..<256).map { index -> UInt32 in
        var crc = UInt32(index)
        for _ in 0..<8 { crc = (crc & 1) != 0 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
        return crc
    }

    /// The CRC-32 of `bytes`.
    public static func checksum<Bytes: Collection>(_ bytes: Bytes) -> UInt32 where Bytes.Element == UInt8 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes { crc = (crc >> 8) ^ table[Int((crc ^ UInt32(byte)) & 0xFF)] }
        return ~crc
    }

    /// The checksum of the UTF-8 bytes of `text`.
    public static func checksum(_ text: String) -> UInt32 { checksum(Array(text.utf8)) }

    /// The 8-digit lowercase hex form printed on the marker line.
    public static func hex<Bytes: Collection>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        let v = String(checksum(bytes), radix: 16)
        return String(repeating: "0", count: 8 - v.count) + v
    }
}

/// One verified marker printed by the generated init.
public struct IngotMarker: Codable, Equatable, Sendable {
    /// The marker's `stage=` value: `init`, `onboot`, `service`, `ready`, `fail`, `shutdown`, ...
    public var stage: String
    /// The marker's `seq=` value (monotonic per boot).
    public var seq: Int
    /// The remaining `key=value` tokens, in order of appearance.
    public var fields: [String: String]
    /// The protocol version (`v1`).
    public var version: String

    /// Creates a marker value.
    public init(stage: String, seq: Int, fields: [String: String] = [:], version: String = "v1") {
        self.stage = stage
        self.seq = seq
        self.fields = fields
        self.version = version
    }

    static let opening = Array("@@INGOT ".utf8)
    static let closing = Array("@@".utf8)

    /// The payload text (`v1 stage=... seq=... k=v ...`), keys after `stage`/`seq` sorted.
    public var payload: String {
        var tokens = [version, "stage=\(stage)", "seq=\(seq)"]
        for key in fields.keys.sorted() { tokens.append("\(key)=\(fields[key] ?? "")") }
        return tokens.joined(separator: " ")
    }

    /// The full framed line, as the init prints it (useful for tests and fixtures).
    public var line: String {
        let payload = self.payload
        return "@@INGOT \(payload) \(MarkerChecksum.hex(Array(payload.utf8)))@@"
    }

    /// Every verified marker found anywhere in `line`, in order. Candidates whose checksum does
    /// not verify, or whose payload is not a well-formed `v1` payload, are ignored.
    public static func markers(in line: String) -> [IngotMarker] {
        let bytes = Array(line.utf8)
        var found: [IngotMarker] = []
        var start = 0
        while let open = find(opening, in: bytes, from: start) {
            let bodyStart = open + opening.count
            guard let close = find(closing, in: bytes, from: bodyStart) else { break }
            if let marker = verify(bytes[bodyStart..<close]) {
                found.append(marker)
                start = close + closing.count
            } else {
                start = open + 1
            }
        }
        return found
    }

    /// Checks `<payload> <crc>` and parses the payload.
    static func verify(_ body: ArraySlice<UInt8>) -> IngotMarker? {
        guard let space = body.lastIndex(of: UInt8(ascii: " ")) else { return nil }
        let crcBytes = body[(space + 1)...]
        guard crcBytes.count == 8,
            crcBytes.allSatisfy({
                ($0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9"))
                    || ($0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "f"))
            })
        else { return nil }
        let payload = body[body.startIndex..<space]
        guard MarkerChecksum.hex(payload) == String(decoding: crcBytes, as: UTF8.self) else { return nil }
        return parse(payload: String(decoding: payload, as: UTF8.self))
    }

    /// Parses a payload whose checksum already verified.
    static func parse(payload: String) -> IngotMarker? {
        let tokens = payload.split(separator: " ", omittingEmptySubsequences: false)
        guard tokens.count >= 3, tokens[0] == "v1" else { return nil }
        var fields: [String: String] = [:]
        for token in tokens.dropFirst() {
            guard let equals = token.firstIndex(of: "="), equals != token.startIndex else { return nil }
            fields[String(token[..<equals])] = String(token[token.index(after: equals)...])
        }
        guard let stage = fields.removeValue(forKey: "stage"), !stage.isEmpty,
            let seqText = fields.removeValue(forKey: "seq"), let seq = Int(seqText)
        else { return nil }
        return IngotMarker(stage: stage, seq: seq, fields: fields, version: String(tokens[0]))
    }

    private static func find(_ needle: [UInt8], in haystack: [UInt8], from start: Int) -> Int? {
        guard needle.count <= haystack.count, start <= haystack.count - needle.count else { return nil }
        var index = start
        while index <= haystack.count - needle.count {
            if haystack[index] == needle[0] && haystack[index..<(index + needle.count)].elementsEqual(needle) {
                return index
            }
            index += 1
        }
        return nil
    }
}
