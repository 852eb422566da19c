// The HTML report as a browser sees it: headless Chromium (Debian's `chromium`) loads a matrix
// report, `--dump-dom` must show every cell with its status and a timeline SVG per cell that ran,
// and the screenshot must be a real picture (a PNG of the window size with many colours, among
// them the pass green and fail red of the matrix table). Skipped when chromium is not installed.
import Foundation
import IngotBoot
import IngotSpec
import IngotContract
import Testing

struct ReportRenderTests {
    static var chromium: String? {
        ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    static func cells(logs: String) throws -> [CellResult] {
        let bootLog =
            "Linux version 6.1.0-56-arm64\n" + IngotMarker(stage: "init", seq: 0, fields: ["name": "hello"]).line + "\n"
            + IngotMarker(stage: "ready", seq: 1, fields: ["name": "hello"]).line + "\n"
        let failLog =
            "Linux version 6.1.0-56-amd64\n" + IngotMarker(stage: "init", seq: 0).line + "\nboom: about to fail <&>\n"
            + IngotMarker(stage: "fail", seq: 1, fields: ["reason": "onboot", "name": "boom", "rc": "3"]).line + "\n"
        try bootLog.write(toFile: logs + "/pass.log", atomically: true, encoding: .utf8)
        try failLog.write(toFile: logs + "/fail.log", atomically: true, encoding: .utf8)
        let pass = BootVerdict(
            passed: true, reached: .ready, failedStage: nil, reason: "ready marker (hello) on console line 3 at 2.4 s",
            stageTimes: [.firmware: 0.4, .bootloader: 0.4, .kernel: 0.4, .`init`: 1.9, .ready: 2.4],
            stageLines: [.kernel: 1, .`init`: 2, .ready: 3],
            skipped: [.firmware, .bootloader])
        let fail = BootVerdict(
            passed: false, reached: .`init`, failedStage: .`init`,
            reason: "init reported failure (onboot): step boom exited with rc=3",
            stageTimes: [.firmware: 3.1, .bootloader: 3.1, .kernel: 3.1, .`init`: 7.8],
            stageLines: [.kernel: 1, .`init`: 2])
        return [
            CellResult(
                board: "arm64-efi", format: .kernelInitrd, backend: .qemu, host: "local", verdict: pass,
                durations: ["wall": 3], logPath: logs + "/pass.log"),
            CellResult(
                board: "x86_64-efi", format: .kernelInitrd, backend: .qemu, host: "local", verdict: fail,
                durations: ["wall": 9], logPath: logs + "/fail.log"),
            CellResult(
                board: "rpi4", format: .raw, backend: .qemu, host: "-",
                verdict: BootVerdict(
                    passed: false, reached: nil, failedStage: nil, reason: "board rpi4 needs QEMU ≥ 9.0"), logPath: "",
                status: .skipped, attempts: 0),
        ]
    }

    @Test func chromiumRendersMatrixTimelinesAndLog() throws {
        guard let chromium = Self.chromium else { return }
        let dir = try E2E.tempDir("render")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let page = dir + "/report.html"
        try HTMLReport.render(try Self.cells(logs: dir)).write(toFile: page, atomically: true, encoding: .utf8)
        let flags = "--headless --no-sandbox --disable-gpu --user-data-dir=\(dir)/profile"

        let dom = try shellOutput("timeout 120 \(chromium) \(flags) --dump-dom file://\(page) 2>/dev/null")
        #expect(dom.contains("<td class=\"pass\">"))
        #expect(dom.contains("<td class=\"fail\">"))
        #expect(dom.contains("<td class=\"skip\">"))
        #expect(dom.components(separatedBy: "<svg class=\"timeline\"").count == 3)  // the two cells that ran
        #expect(dom.contains("<rect"))
        #expect(dom.contains("▶ stage init"))
        #expect(dom.contains("boom: about to fail &lt;&amp;&gt;"))
        #expect(dom.contains("1 of 3 cells passed (1 failed, 1 skipped)"))

        let shot = dir + "/report.png"
        _ = try shellOutput(
            "timeout 120 \(chromium) \(flags) --screenshot=\(shot) --window-size=1200,900 file://\(page) 2>/dev/null")
        let size = (try FileManager.default.attributesOfItem(atPath: shot)[.size] as? NSNumber)?.intValue ?? 0
        #expect(size > 20_000, "screenshot is only \(size) bytes")
        // Decode the PNG (zlib + row filters) and count colours: a blank or broken page has a handful.
        let stats = try shellOutput("python3 - \(shot) <<'EOF'\n\(Self.pngStats)\nEOF")
        let fields = stats.split(separator: " ").map(String.init)
        #expect(fields.count == 4, "\(stats)")
        guard fields.count == 4 else { return }
        #expect(fields[0] == "1200x900")
        #expect((Int(fields[1]) ?? 0) > 50, "only \(fields[1]) distinct colours")
        #expect(fields[2] == "green=yes", "the pass cell colour #b7e4b0 is not on screen")
        #expect(fields[3] == "red=yes", "the fail cell colour #f3b0a8 is not on screen")
    }

    /// Prints `WxH colours green=yes|no red=yes|no` for an 8-bit RGB/RGBA PNG.
    static let pngStats = """
        import sys, zlib, struct
        data = open(sys.argv[1], 'rb').read()
        assert data[:8] == b'\\x89PNG\\r\\n\\x1a\\n'
        pos, idat = 8, b''
        while pos < len(data):
            n, kind = struct.unpack('>I4s', data[pos:pos + 8]); body = data[pos + 8:pos + 8 + n]; pos += 12 + n
            if kind == b'IHDR': w, h, depth, ctype = struct.unpack('>IIBB', body[:10])
            if kind == b'IDAT': idat += body
        bpp = {2: 3, 6: 4}[ctype]; raw = zlib.decompress(idat); stride = w * bpp
        prev = bytearray(stride); colours = set(); i = 0
        for y in range(h):
            f = raw[i]; line = bytearray(raw[i + 1:i + 1 + stride]); i += 1 + stride
            for x in range(stride):
                a = line[x - bpp] if x >= bpp else 0; b = prev[x]; c = prev[x - bpp] if x >= bpp else 0
                if f == 1: line[x] = (line[x] + a) & 255
                elif f == 2: line[x] = (line[x] + b) & 255
                elif f == 3: line[x] = (line[x] + (a + b) // 2) & 255
                elif f == 4:
                    p = a + b - c; pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                    line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
            colours.update(bytes(line[x:x + 3]) for x in range(0, stride, bpp)); prev = line
        print('%dx%d %d green=%s red=%s' % (w, h, len(colours), 'yes' if bytes([0xb7, 0xe4, 0xb0]) in colours else 'no',
              'yes' if bytes([0xf3, 0xb0, 0xa8]) in colours else 'no'))
        """
}
