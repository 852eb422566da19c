// `deb:` image references: the closure options (`?recommends`) and their errors.

import IngotSpec
import Testing

@Suite struct SpecDebImageTests {
    let here = SourceLocation(file: "s.yml", line: 4, column: 12)

    func parse(_ text: String) throws -> ImageRef { try ImageRef.parse(text, baseDirectory: "/base", location: here) }

    @Test func recommendsOption() throws {
        #expect(try parse("deb:curl") == .deb(name: "curl", version: nil, recommends: false))
        #expect(try parse("deb:curl?recommends") == .deb(name: "curl", version: nil, recommends: true))
        #expect(
            try parse("deb:curl=7.88.1-10?recommends") == .deb(name: "curl", version: "7.88.1-10", recommends: true))
        #expect(try parse("deb:libstdc++6") == .deb(name: "libstdc++6", version: nil))
    }

    @Test func unknownOptionsNameTheOptionAndTheFix() {
        #expect { try parse("deb:curl?suggests") } throws: { error in
            let t = "\(error)"
            return t.contains("s.yml:4:12") && t.contains("?suggests") && t.contains("?recommends")
        }
        #expect(throws: SpecError.self) { try parse("deb:?recommends") }
    }
}
