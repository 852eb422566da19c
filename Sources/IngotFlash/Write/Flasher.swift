// Executing a flash plan: open every target (exclusive, pinned), read the image once and fan
// its data out to every target's writer, then let each target sync, re-read its partition
// table, read back and check the table on its own. A target that fails is dropped and reported;
// the others finish. Progress is polled from the workers and sent to the sink.

import Foundation
import Logging
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Runs a `FlashPlan`.
public final class Flasher: Sendable {
    let plan: FlashPlan
    let discovery: DeviceDiscovery
    let sink: FlashProgressSink?
    let logger: Logger?
    private let stopped = Mutex(false)

    /// Creates a flasher.
    /// - Parameters:
    ///   - plan: what to write where.
    ///   - discovery: how to re-read device identities (the real /sys unless testing).
    ///   - progress: where progress goes.
    ///   - logger: debug logs.
    public init(
        plan: FlashPlan, discovery: DeviceDiscovery = DeviceDiscovery(), progress: FlashProgressSink? = nil,
        logger: Logger? = nil
    ) {
        self.plan = plan
        self.discovery = discovery
        self.sink = progress
        self.logger = logger
    }

    var cancelled: Bool {
        stopped.withLock { $0 }
    }

    /// Stops reading and writing as soon as possible (Ctrl-C); targets then fail as interrupted.
    public func cancel() {
        stopped.withLock { $0 = true }
    }

    /// Writes (or only verifies) every target; the report says which succeeded.
    public func run() async -> FlashReport {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (cont: CheckedContinuation<FlashReport, Never>) in
                let thread = Thread { cont.resume(returning: self.runBlocking()) }
                thread.stackSize = 1 << 20
                thread.start()
            }
        } onCancel: {
            self.cancel()
        }
    }

    /// The whole run on the calling thread.
    public func runBlocking() -> FlashReport {
        let start = Date()
        var reports: [TargetReport] = []
        var lanes: [TargetLane] = []
        for target in plan.targets {
            do {
                let handle = try open(target)
                handle.faultAfter = plan.options.faultAfter[target.path]
                lanes.append(TargetLane(target: target, handle: handle))
            } catch {
                var r = TargetReport(path: target.path)
                r.status = .failed
                r.error = "\(error)"
                sink?.handle(.targetFailed(target: target.path, error: "\(error)"))
                reports.append(r)
            }
        }
        if !lanes.isEmpty {
            if plan.options.verifyOnly { verifyOnly(lanes) } else { writeAndVerify(lanes) }
        }
        // Keep the command-line order.
        let all = reports + lanes.map(\.report)
        let ordered = plan.targets.compactMap { t in all.first { $0.path == t.path } }
        let report = FlashReport(
            image: plan.image.path, imageSize: plan.image.size, mappedBytes: plan.image.writeBytes,
            verifyOnly: plan.options.verifyOnly, targets: ordered, seconds: Date().timeIntervalSince(start))
        sink?.handle(.finished(report))
        return report
    }

    func open(_ target: FlashTarget) throws -> TargetHandle {
        let readOnly = plan.options.verifyOnly
        switch target.kind {
        case .device(let device):
            return try TargetHandle.openDevice(
                target.path, expected: device.identity, discovery: discovery, directIO: plan.options.directIO,
                readOnly: readOnly)
        case .file:
            return try TargetHandle.openFile(target.path, size: plan.image.size, readOnly: readOnly)
        }
    }

    /// A phase ended on one lane: its last progress line, then the phase summary.
    func done(_ lane: TargetLane, _ phase: FlashPhase, bytes: Int64, seconds: Double) {
        sink?.handle(.progress(phase: phase, target: lane.target.path, done: bytes, total: bytes, elapsed: seconds))
        sink?.handle(.phaseDone(phase: phase, target: lane.target.path, bytes: bytes, seconds: seconds))
    }

    /// Emits progress for every live lane until `done` returns true.
    func poll(_ lanes: [TargetLane], totals: (TargetLane) -> Int64, until done: () -> Bool) {
        while true {
            if done() { return }
            for lane in lanes where !lane.failed {
                let s = lane.status
                sink?.handle(
                    .progress(
                        phase: s.phase, target: lane.target.path, done: s.done, total: totals(lane), elapsed: s.elapsed)
                )
            }
            usleep(200_000)
        }
    }

    // MARK: write + verify

    func writeAndVerify(_ lanes: [TargetLane]) {
        let options = plan.options
        let image = plan.image
        let pool = ChunkPool(count: 6, chunkSize: options.chunkSize)
        let reader = ImageReader(image: image, pool: pool)
        reader.cancelled = { [unowned self] in self.cancelled }
        reader.hashKnownRanges = !options.verify
        reader.emit = { chunk in
            let live = lanes.filter { !$0.failed }
            guard !live.isEmpty else {
                pool.share(chunk, with: 0)
                throw FlashError.allTargetsFailed
            }
            pool.share(chunk, with: live.count)
            for lane in live { lane.enqueue(.data(chunk), pool: pool) }
        }
        if image.bmap != nil {
            let unmapped = image.size - image.writeBytes
            for lane in lanes {
                if options.zeroUnmapped {
                    for gap in image.gaps { lane.enqueue(.zero(offset: gap.start, length: gap.length), pool: pool) }
                } else {
                    lane.report.skipped = unmapped
                }
            }
        }

        let group = DispatchGroup()
        let expectedTable: TableCheck?
        do { expectedTable = options.checkTable ? try TableCheck.expected(image: image) : nil } catch {
            logger?.debug("cannot read the image's partition table: \(error)")
            expectedTable = nil
        }
        // Each lane: write what the reader queues, then (after the reader succeeded) verify.
        let readerResult = ReaderOutcome()
        let ranges = reader.ranges
        for lane in lanes {
            group.enter()
            let t = Thread { [self] in
                defer { group.leave() }
                lane.write(pool: pool, options: options) { error in
                    self.sink?.handle(.targetFailed(target: lane.target.path, error: "\(error)"))
                }
                guard !lane.failed else { return }
                // The writer ends after the reader did: its outcome decides whether the write was whole.
                readerResult.wait()
                if let error = readerResult.error {
                    if lane.fail(error) {
                        self.sink?.handle(.targetFailed(target: lane.target.path, error: "\(error)"))
                    }
                    return
                }
                self.done(lane, .write, bytes: lane.report.written, seconds: lane.report.writeSeconds)
                self.finish(lane, digests: readerResult.digests, expectedTable: expectedTable, ranges: ranges)
            }
            t.stackSize = 1 << 20
            t.start()
        }
        // nonisolated(unsafe): the reader was configured above and from here on only the reader
        // thread uses it (no one else keeps a reference).
        nonisolated(unsafe) let threadReader = reader
        let readerThread = Thread {
            do {
                let digests = try threadReader.run()
                readerResult.set(digests: digests, error: nil)
            } catch {
                readerResult.set(digests: [], error: error)
            }
            for lane in lanes { lane.end() }
        }
        readerThread.stackSize = 1 << 20
        readerThread.start()
        poll(lanes, totals: { _ in image.writeBytes }) { group.wait(timeout: .now()) == .success }
    }

    /// After writing: verify and check the table.
    func finish(_ lane: TargetLane, digests: [String], expectedTable: TableCheck?, ranges: [ImageRange]) {
        let options = plan.options
        do {
            if options.verify {
                let bytes = try lane.verify(
                    image: plan.image, ranges: ranges, digests: digests, bufferSize: options.chunkSize,
                    cancelled: { self.cancelled })
                done(lane, .verify, bytes: bytes, seconds: lane.report.verifySeconds)
            }
            try checkTable(lane, expectedTable)
        } catch {
            if lane.fail(error) { sink?.handle(.targetFailed(target: lane.target.path, error: "\(error)")) }
        }
        lane.report.notes = lane.handle.notes
    }

    func checkTable(_ lane: TargetLane, _ expected: TableCheck?) throws {
        guard plan.options.checkTable else { return }
        guard let expected else {
            lane.handle.note("the image has no partition table; table check skipped")
            return
        }
        // libblkid reads through the page cache with unaligned buffers: O_DIRECT off, cache dropped.
        lane.handle.setDirect(false)
        lane.handle.dropCache()
        let (differences, found) = expected.compare(fd: lane.handle.fd, path: lane.target.path)
        lane.report.table = found
        if !differences.isEmpty { throw FlashError.tableMismatch(target: lane.target.path, differences: differences) }
    }

    // MARK: verify only

    func verifyOnly(_ lanes: [TargetLane]) {
        let image = plan.image
        let ranges = image.ranges
        var digests = ranges.compactMap(\.expected)
        let expectedTable = try? TableCheck.expected(image: image)
        var readerError: Swift.Error? = nil
        if digests.count != ranges.count {
            // No digest to compare with for some range: hash the image once.
            let reader = ImageReader(image: image, pool: nil)
            reader.cancelled = { [unowned self] in self.cancelled }
            do { digests = try reader.run() } catch { readerError = error }
        }
        if let readerError {
            for lane in lanes where lane.fail(readerError) {
                sink?.handle(.targetFailed(target: lane.target.path, error: "\(readerError)"))
            }
            return
        }
        let group = DispatchGroup()
        let expectedDigests = digests
        for lane in lanes {
            group.enter()
            let t = Thread { [self] in
                defer { group.leave() }
                self.finish(lane, digests: expectedDigests, expectedTable: expectedTable, ranges: ranges)
            }
            t.stackSize = 1 << 20
            t.start()
        }
        poll(lanes, totals: { _ in image.writeBytes }) { group.wait(timeout: .now()) == .success }
    }
}

/// The reader's result, awaited by the lanes before they verify.
// @unchecked: every `var` is used only under `cond` (`wait()` needs a condition variable, which Mutex lacks).
final class ReaderOutcome: @unchecked Sendable {
    private let cond = NSCondition()
    private var done = false
    private var _digests: [String] = []
    private var _error: Swift.Error?

    func set(digests: [String], error: Swift.Error?) {
        cond.lock()
        _digests = digests
        _error = error
        done = true
        cond.broadcast()
        cond.unlock()
    }

    func wait() {
        cond.lock()
        while !done { cond.wait() }
        cond.unlock()
    }

    var digests: [String] {
        cond.lock()
        defer { cond.unlock() }
        return _digests
    }

    var error: Swift.Error? {
        cond.lock()
        defer { cond.unlock() }
        return _error
    }
}
