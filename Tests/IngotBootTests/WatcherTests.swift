// Stage watcher with canned console logs and an explicit clock (no sleeps).

import Foundation
import IngotSpec
import Testing

@testable import IngotBoot

struct WatcherTests {
    static func rules(notExpected: Set<BootStage> = []) -> WatchRules {
        WatchRules(
            stages: [
                .firmware: StageRule(patterns: ["SeaBIOS \\(version"], timeoutSeconds: 10),
                .bootloader: StageRule(patterns: ["SYSLINUX"], timeoutSeconds: 10),
                .kernel: StageRule(patterns: ["Linux version [0-9]"], timeoutSeconds: 20),
                .`init`: StageRule(patterns: ["@@INGOT v1 stage=init"], timeoutSeconds: 30),
                .ready: StageRule(patterns: ["@@INGOT v1 stage=ready"], timeoutSeconds: 40),
            ], failurePatterns: ["Internal error: "], notExpected: notExpected)
    }

    static func marker(_ stage: String, _ seq: Int, _ fields: [String: String] = [:]) -> String {
        IngotMarker(stage: stage, seq: seq, fields: fields).line
    }

    @Test func stagesInOrder() throws {
        let watcher = try StageWatcher(rules: Self.rules())
        #expect(watcher.feed(text: "\u{1B}c\u{1B}[?7l\u{1B}[2J\u{1B}[0mSeaBIOS (version 1.16.2)\r\n", at: 0.5) == nil)
        #expect(watcher.feed(text: "SYSLINUX 6.04\r\n", at: 1.0) == nil)
        #expect(watcher.feed(text: "[    0.000000] Linux version 6.1.0-56-amd64\r\n", at: 2.0) == nil)
        #expect(watcher.feed(text: Self.marker("init", 1, ["name": "demo"]) + "\r\n", at: 3.0) == nil)
        #expect(
            watcher.feed(text: Self.marker("onboot", 2, ["name": "dhcp", "status": "ok", "rc": "0"]) + "\n", at: 3.5)
                == nil)
        #expect(
            watcher.feed(
                text: Self.marker("service", 3, ["name": "web", "status": "started", "rc": "0"]) + "\n", at: 3.6) == nil
        )
        let verdict = try #require(watcher.feed(text: Self.marker("ready", 4, ["name": "demo"]) + "\n", at: 4.0))
        #expect(verdict.passed)
        #expect(verdict.reached == .ready)
        #expect(verdict.stageTimes == [.firmware: 0.5, .bootloader: 1.0, .kernel: 2.0, .`init`: 3.0, .ready: 4.0])
        #expect(verdict.stageLines[.kernel] == 3)
        #expect(verdict.skipped.isEmpty)
        #expect(
            verdict.events.map(\.summary) == [
                "init demo", "onboot dhcp ok rc=0", "service web started rc=0", "ready demo",
            ])
        #expect(verdict.lastLines.first == "SeaBIOS (version 1.16.2)")
    }

    @Test func forgedMarkerNeverCounts() throws {
        let watcher = try StageWatcher(rules: Self.rules(notExpected: [.firmware, .bootloader]))
        watcher.feed(text: "Linux version 6.1\n", at: 1)
        // The board's plain-text marker pattern must not make a bad-crc marker count.
        #expect(watcher.feed(text: "@@INGOT v1 stage=ready seq=5 name=demo 12345@@\n", at: 2) == nil)
        #expect(watcher.currentStage == .kernel)
        // Kernel text interleaved into a genuine marker breaks it: ignored, not a false ready.
        var broken = Self.marker("ready", 6, ["name": "demo"])
        broken.insert(contentsOf: "[ 2.5] usb 1-1: new device", at: broken.index(broken.startIndex, offsetBy: 12))
        #expect(watcher.feed(text: broken + "\n", at: 2.5) == nil)
        // A genuine marker with kernel text around it on the same line counts.
        let verdict = try #require(
            watcher.feed(text: "[ 2.9] eth0: up" + Self.marker("ready", 7, ["name": "demo"]) + "[ 3.0] x\n", at: 3))
        #expect(verdict.passed)
        #expect(verdict.skipped == [.firmware, .bootloader, .`init`])
        #expect(verdict.events.count == 1)
    }

    @Test func panicFailsInKernelStage() throws {
        let watcher = try StageWatcher(rules: Self.rules(notExpected: [.firmware, .bootloader]))
        watcher.feed(text: "Linux version 6.1.0\n", at: 1)
        let verdict = try #require(
            watcher.feed(text: "[ 1.9] Kernel panic - not syncing: VFS: Unable to mount root fs\n", at: 2))
        #expect(!verdict.passed)
        #expect(verdict.failedStage == .kernel)
        #expect(verdict.reason.contains("Kernel panic"))
        #expect(verdict.reason.contains("line 2"))
        // Later input changes nothing.
        #expect(watcher.feed(text: Self.marker("ready", 1) + "\n", at: 3) == verdict)
    }

    @Test func initFailMarkerNamesStep() throws {
        let watcher = try StageWatcher(rules: Self.rules(notExpected: [.firmware, .bootloader]))
        watcher.feed(text: "Linux version 6.1\n" + Self.marker("init", 1, ["name": "demo"]) + "\n", at: 1)
        watcher.feed(
            text: Self.marker("onboot", 2, ["name": "format-data", "status": "fail", "rc": "3"]) + "\n", at: 2)
        let verdict = try #require(
            watcher.feed(
                text: Self.marker("fail", 3, ["reason": "onboot", "name": "format-data", "rc": "3"]) + "\n", at: 2.1))
        #expect(!verdict.passed)
        #expect(verdict.failedStage == .`init`)
        #expect(verdict.reason.contains("format-data"))
        #expect(verdict.reason.contains("rc=3"))
    }

    @Test func perStageTimeouts() throws {
        let watcher = try StageWatcher(rules: Self.rules())
        #expect(watcher.check(at: 9.9) == nil)
        watcher.feed(text: "SeaBIOS (version 1)\n", at: 5)
        #expect(watcher.nextDeadline()?.stage == .bootloader)
        #expect(watcher.nextDeadline()?.deadline == 15)
        #expect(watcher.check(at: 14.9) == nil)
        let verdict = try #require(watcher.check(at: 15.1))
        #expect(!verdict.passed)
        #expect(verdict.failedStage == .bootloader)
        #expect(verdict.reached == .firmware)
        #expect(verdict.reason.contains("not reached within 10.0 s"))
    }

    @Test func directBootTimeoutSkipsFirmwareBudget() throws {
        let watcher = try StageWatcher(rules: Self.rules(notExpected: [.firmware, .bootloader]))
        #expect(watcher.nextDeadline()?.stage == .kernel)
        #expect(watcher.nextDeadline()?.deadline == 20)
        let verdict = try #require(watcher.check(at: 20.5))
        #expect(verdict.failedStage == .kernel)
        #expect(verdict.reached == nil)
    }

    @Test func partialLinesAndSplitMarkers() throws {
        let watcher = try StageWatcher(rules: Self.rules(notExpected: [.firmware, .bootloader]))
        let text = "Linux version 6.1\r\n" + Self.marker("ready", 1, ["name": "demo"]) + "\r\n"
        var verdict: BootVerdict?
        for (index, byte) in text.utf8.enumerated() where verdict == nil {
            verdict = watcher.feed([byte], at: Double(index) * 0.01)
        }
        let final = try #require(verdict)
        #expect(final.passed)
        #expect(final.stageLines[.ready] == 2)
    }

    @Test func promptWithoutNewlineMatches() throws {
        let rules = WatchRules(
            stages: [.ready: StageRule(patterns: [], timeoutSeconds: 5)], readinessPatterns: ["login: $"])
        let watcher = try StageWatcher(rules: rules)
        let verdict = try #require(watcher.feed(text: "demo login: ", at: 1))
        #expect(verdict.passed)
    }

    @Test func endOfStreamBeforeReady() throws {
        let watcher = try StageWatcher(rules: Self.rules(notExpected: [.firmware, .bootloader]))
        watcher.feed(text: "Linux version 6.1\n", at: 1)
        let verdict = watcher.finish(at: 2, cause: "QEMU exited (exit status 1)")
        #expect(!verdict.passed)
        #expect(verdict.failedStage == .`init`)
        #expect(verdict.reason.contains("QEMU exited"))
    }

    @Test func invalidPatternIsReported() {
        let rules = WatchRules(stages: [.kernel: StageRule(patterns: ["Linux ("], timeoutSeconds: 1)])
        #expect(throws: StageWatcher.Error.self) { try StageWatcher(rules: rules) }
    }

    @Test func verdictJSONRoundTrip() throws {
        let watcher = try StageWatcher(rules: Self.rules(notExpected: [.firmware, .bootloader]))
        watcher.feed(text: "Linux version 6.1\n", at: 1)
        let verdict = try #require(watcher.feed(text: Self.marker("ready", 1) + "\n", at: 2))
        let data = try JSONEncoder().encode(verdict)
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect((object["stageTimes"] as? [String: Double])?["kernel"] == 1)
        #expect(object["reached"] as? String == "ready")
        #expect(try JSONDecoder().decode(BootVerdict.self, from: data) == verdict)
    }
}
