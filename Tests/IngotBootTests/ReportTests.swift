// Reports read back: JUnit through XMLParser, JSON through the decoder, HTML for cells and escaping.

import Foundation
#if canImport(FoundationXML)
    import FoundationXML
#endif
import IngotSpec
import IngotContract
import Testing

@testable import IngotBoot

struct ReportTests {
    static func cells() -> [CellResult] {
        let pass = BootVerdict(
            passed: true, reached: .ready, failedStage: nil, reason: "ready marker",
            stageTimes: [.kernel: 1, .`init`: 3, .ready: 4],
            stageLines: [.kernel: 1, .ready: 3], skipped: [.firmware, .bootloader])
        let fail = BootVerdict(
            passed: false, reached: .kernel, failedStage: .kernel,
            reason: "failure pattern 'Kernel panic' <boom> & more",
            stageTimes: [.firmware: 1, .bootloader: 2, .kernel: 5], stageLines: [.kernel: 2],
            lastLines: ["<script>alert(1)</script>", "Kernel panic"])
        return [
            CellResult(
                board: "x86_64-bios", format: .raw, backend: .qemu, host: "ci", verdict: pass, durations: ["wall": 4.5],
                logPath: "/logs/a"),
            CellResult(
                board: "rpi3", format: .raw, backend: .qemu, host: "ci", verdict: fail, durations: ["wall": 6],
                logPath: "/logs/b"),
        ]
    }

    final class JUnitCollector: NSObject, XMLParserDelegate {
        var testcases: [String] = []
        var failures: [String] = []
        var suites: [String: String] = [:]
        func parser(
            _ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
            attributes: [String: String]
        ) {
            if name == "testcase" { testcases.append("\(attributes["classname"] ?? "")/\(attributes["name"] ?? "")") }
            if name == "failure" { failures.append(attributes["message"] ?? "") }
            if name == "testsuites" { suites = attributes }
        }
    }

    @Test func junitParsesBack() throws {
        let xml = JUnitReport.render(Self.cells())
        let parser = XMLParser(data: Data(xml.utf8))
        let collector = JUnitCollector()
        parser.delegate = collector
        #expect(parser.parse(), "\(parser.parserError.map { "\($0)" } ?? "")")
        #expect(collector.testcases == ["ingot.x86_64-bios/raw/qemu", "ingot.rpi3/raw/qemu"])
        #expect(collector.failures == ["stage kernel: failure pattern 'Kernel panic' <boom> & more"])
        #expect(collector.suites["tests"] == "2")
        #expect(collector.suites["failures"] == "1")
    }

    @Test func junitAcceptedByXmllint() throws {
        guard FileManager.default.fileExists(atPath: "/usr/bin/xmllint") else { return }
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("ingot-junit-\(UUID().uuidString).xml")
            .path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try JUnitReport.render(Self.cells()).write(toFile: path, atomically: true, encoding: .utf8)
        let count = try ProcessCapture.run("/usr/bin/xmllint", ["--xpath", "count(//testcase/failure)", path])
        #expect(count.trimmingCharacters(in: .whitespacesAndNewlines) == "1")
    }

    @Test func jsonRoundTrip() throws {
        let data = try JSONReport.render(Self.cells())
        let document = try JSONReport.parse(data)
        #expect(document.passed == 1)
        #expect(document.failed == 1)
        #expect(document.cells == Self.cells())
    }

    @Test func htmlHasCellsTimelineAndEscapedLog() throws {
        let logs: [String: String] = [
            "/logs/a": "Linux version 6.1\r\nhello\n" + IngotMarker(stage: "ready", seq: 1).line + "\n",
            "/logs/b": "U-Boot 2023\nLinux version 6.1 <script>alert('x')</script>\nKernel panic\n",
        ]
        let html = HTMLReport.render(Self.cells()) { cell in logs[cell.logPath].map { Array($0.utf8) } }
        #expect(!html.contains("<script>"))
        #expect(html.contains("&lt;script&gt;alert(&apos;x&apos;)&lt;/script&gt;"))
        #expect(html.contains("<td class=\"pass\">"))
        #expect(html.contains("<td class=\"fail\">"))
        #expect(html.contains("id=\"cell-0\"") && html.contains("id=\"cell-1\""))
        #expect(html.contains("<svg"))
        #expect(html.contains("▶ stage kernel</span>\nLinux version 6.1\n"))
        #expect(html.contains("▶ stage ready</span>\n@@INGOT"))
        #expect(!html.contains("http://") || html.contains("xmlns=\"http://www.w3.org/2000/svg\""))
        #expect(!html.contains("<link") && !html.contains("src="))
    }
}
