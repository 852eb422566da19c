// What the matrix and the seeded faults need from the stage watcher, with canned consoles and an
// explicit clock: crash-looping services fail in init, the spec's readiness timeout counts from
// power-on, the settle period after ready; and the matrix statuses in JUnit, JSON and HTML.

import Foundation
#if canImport(FoundationXML)
    import FoundationXML
#endif
import IngotSpec
import IngotContract
import Testing

@testable import IngotBoot

struct MatrixWatcherTests {
    static func rules(readinessTimeout: Double? = nil, settle: Double = 0) -> WatchRules {
        WatchRules(
            stages: [
                .kernel: StageRule(patterns: ["Linux version [0-9]"], timeoutSeconds: 30),
                .`init`: StageRule(patterns: [], timeoutSeconds: 60),
                .ready: StageRule(patterns: [], timeoutSeconds: 120),
            ], notExpected: [.firmware, .bootloader], readinessTimeoutSeconds: readinessTimeout,
            serviceSettleSeconds: settle)
    }

    static func marker(_ stage: String, _ seq: Int, _ fields: [String: String] = [:]) -> String {
        IngotMarker(stage: stage, seq: seq, fields: fields).line + "\n"
    }

    @Test func crashLoopingServiceFailsInInitDuringSettle() throws {
        let watcher = try StageWatcher(rules: Self.rules(settle: 8))
        watcher.feed(text: "Linux version 6.1\n" + Self.marker("init", 0), at: 1)
        watcher.feed(text: Self.marker("service", 1, ["name": "web", "status": "started"]), at: 2)
        watcher.feed(text: Self.marker("service", 2, ["name": "web", "status": "restarting", "rc": "1"]), at: 2.1)
        // The init says ready as soon as every service was launched once: not yet a pass.
        #expect(watcher.feed(text: Self.marker("ready", 3, ["name": "demo"]), at: 2.2) == nil)
        #expect(watcher.check(at: 4) == nil)
        watcher.feed(text: Self.marker("service", 4, ["name": "web", "status": "started"]), at: 3.1)
        #expect(
            watcher.feed(text: Self.marker("service", 5, ["name": "web", "status": "restarting", "rc": "1"]), at: 3.2)
                == nil)
        watcher.feed(text: Self.marker("service", 6, ["name": "other", "status": "restarting", "rc": "2"]), at: 3.3)
        let verdict = try #require(
            watcher.feed(text: Self.marker("service", 7, ["name": "web", "status": "restarting", "rc": "1"]), at: 5.2))
        #expect(!verdict.passed)
        #expect(verdict.failedStage == .`init`)
        #expect(verdict.reached == .`init`)
        #expect(verdict.reason.contains("service web is crash-looping: restarted 3 times before ready, last rc=1"))
    }

    @Test func stableServicePassesAfterSettle() throws {
        let watcher = try StageWatcher(rules: Self.rules(settle: 5))
        watcher.feed(text: "Linux version 6.1\n" + Self.marker("init", 0), at: 1)
        watcher.feed(text: Self.marker("service", 1, ["name": "web", "status": "started"]), at: 2)
        #expect(watcher.feed(text: Self.marker("ready", 2), at: 3) == nil)
        #expect(watcher.check(at: 7.9) == nil)
        let verdict = try #require(watcher.check(at: 8))
        #expect(verdict.passed)
        #expect(verdict.stageTimes[.ready] == 3)  // when the marker came, not when settling ended
    }

    @Test func withoutSettleReadyPassesAtOnce() throws {
        let watcher = try StageWatcher(rules: Self.rules())
        watcher.feed(text: "Linux version 6.1\n", at: 1)
        #expect(watcher.feed(text: Self.marker("ready", 1), at: 2)?.passed == true)
    }

    @Test func readinessTimeoutCountsFromPowerOn() throws {
        let watcher = try StageWatcher(rules: Self.rules(readinessTimeout: 15))
        watcher.feed(text: "Linux version 6.1\n" + Self.marker("init", 0, ["name": "demo"]), at: 2)
        watcher.feed(text: Self.marker("onboot", 1, ["name": "first", "status": "ok", "rc": "0"]), at: 3)
        #expect(watcher.check(at: 15) == nil)
        let verdict = try #require(watcher.check(at: 15.1))
        #expect(!verdict.passed)
        #expect(verdict.reached == .`init`)
        #expect(verdict.failedStage == .ready)
        #expect(verdict.reason.contains("not ready within 15.0 s of power-on (readiness.timeout)"))
        #expect(verdict.reason.contains("stuck in init") && verdict.reason.contains("onboot first ok"))
    }

    @Test func silentConsoleTimesOutAwaitingKernel() throws {
        let watcher = try StageWatcher(rules: Self.rules(readinessTimeout: 12))
        let verdict = try #require(watcher.check(at: 12.5))
        #expect(verdict.failedStage == .kernel && verdict.reached == nil)
        #expect(verdict.reason.contains("awaiting kernel: no stage recognised"))
    }

    @Test func infrastructureClassification() {
        func result(_ reached: BootStage?, _ exit: IngotBoot.ExitStatus) -> BootResult {
            BootResult(
                verdict: BootVerdict(passed: false, reached: reached, failedStage: .kernel, reason: "x"),
                wallSeconds: 1,
                accelerator: "tcg", exitStatus: exit, logPath: "", qemuStderr: "")
        }
        #expect(result(nil, .exited(1)).isInfrastructureFailure)
        #expect(!result(nil, .signaled(15)).isInfrastructureFailure)  // ended by the harness on a timeout
        #expect(!result(nil, .exited(0)).isInfrastructureFailure)
        #expect(!result(.kernel, .exited(1)).isInfrastructureFailure)  // the guest got going: its verdict counts
    }

    // MARK: - Reports with matrix statuses

    static func cells() -> [CellResult] {
        let pass = BootVerdict(
            passed: true, reached: .ready, failedStage: nil, reason: "ready",
            stageTimes: [.kernel: 1, .`init`: 2, .ready: 3])
        let fail = BootVerdict(
            passed: false, reached: .`init`, failedStage: .`init`,
            reason: "init reported failure (onboot): step boom exited with rc=3")
        let none = BootVerdict(
            passed: false, reached: nil, failedStage: nil, reason: "output format 'raw' is not available")
        return [
            CellResult(
                board: "x86_64-efi", format: .kernelInitrd, backend: .qemu, host: "local", verdict: pass,
                logPath: "/nonexistent"),
            CellResult(
                board: "x86_64-efi", format: .raw, backend: .qemu, host: "-", verdict: none, logPath: "",
                status: .skipped, attempts: 0),
            CellResult(
                board: "arm64-efi", format: .kernelInitrd, backend: .qemu, host: "local", verdict: fail,
                logPath: "/nonexistent"),
            CellResult(
                board: "arm64-efi", format: .raw, backend: .libvirt, host: "qemu:///system",
                verdict: BootVerdict(
                    passed: false, reached: nil, failedStage: nil, reason: "infrastructure failure after 2 attempt(s)"),
                logPath: "", status: .error, attempts: 2,
                retryReasons: ["attempt 1 on qemu:///system: the backend failed: refused"]),
        ]
    }

    final class Collector: NSObject, XMLParserDelegate {
        var elements: [String: [String: String]] = [:]
        var order: [String] = []
        func parser(
            _ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
            attributes: [String: String]
        ) {
            order.append(name)
            elements[name] = attributes
        }
    }

    @Test func junitCarriesSkippedAndErrors() throws {
        let parser = XMLParser(data: Data(JUnitReport.render(Self.cells()).utf8))
        let collector = Collector()
        parser.delegate = collector
        #expect(parser.parse())
        #expect(collector.order.filter { $0 == "testcase" }.count == 4)
        #expect(collector.order.filter { $0 == "failure" }.count == 1)
        #expect(collector.order.filter { $0 == "error" }.count == 1)
        #expect(collector.order.filter { $0 == "skipped" }.count == 1)
        #expect(collector.elements["testsuites"]?["failures"] == "1")
        #expect(collector.elements["testsuites"]?["errors"] == "1")
        #expect(collector.elements["testsuites"]?["skipped"] == "1")
        #expect(
            collector.elements["failure"]?["message"]
                == "stage init: init reported failure (onboot): step boom exited with rc=3")
        #expect(collector.elements["skipped"]?["message"] == "output format 'raw' is not available")
    }

    @Test func jsonCountsAndOldReportsDecode() throws {
        let document = try JSONReport.parse(try JSONReport.render(Self.cells()))
        #expect(document.passed == 1 && document.failed == 2 && document.skipped == 1 && document.errors == 1)
        #expect(document.cells == Self.cells())
        // A cell written before statuses existed decodes with the status from its verdict.
        let old = """
            {"board":"b","format":"raw","backend":"qemu","host":"h","logPath":"l","durations":{},
             "verdict":{"passed":false,"reason":"r","stageTimes":{},"stageLines":{},"skipped":[],"events":[],"lastLines":[]}}
            """
        let cell = try JSONDecoder().decode(CellResult.self, from: Data(old.utf8))
        #expect(cell.status == .failed && cell.attempts == 1)
    }

    @Test func htmlColoursEveryStatus() throws {
        let html = HTMLReport.render(Self.cells()) { _ in nil }
        #expect(html.contains("<td class=\"pass\">"))
        #expect(html.contains("<td class=\"skip\">"))
        #expect(html.contains("<td class=\"fail\">"))
        #expect(html.contains("<td class=\"error\">"))
        #expect(html.contains("1 of 4 cells passed (1 failed, 1 skipped, 1 error)"))
        #expect(html.contains("retried: attempt 1 on qemu:///system"))
        // Only cells that ran have a timeline.
        #expect(html.components(separatedBy: "<svg class=\"timeline\"").count == 2)
    }
}
