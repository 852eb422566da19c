// The squashfs data path: file content is streamed from the tree in block-sized pieces, tails and
// small files are packed into fragment blocks, and batches of blocks are compressed on several
// threads. Results are written strictly in submission order, so the image is byte-identical no
// matter how the threads are scheduled. Memory stays at a few batches of blocks.

import Foundation
import IngotTree
import Synchronization

/// Where one regular file's content ended up.
struct SquashfsFileLayout {
    var size: UInt64
    var blocksStart: UInt64 = 0
    /// On-disk size word per full block (bit 24 = stored uncompressed, 0 = sparse hole).
    var blockSizes: [UInt32] = []
    var fragment: UInt32 = SquashfsFormat.invalidIndex
    var fragmentOffset: UInt32 = 0
    /// Bytes not stored because their blocks were all zeros.
    var sparseBytes: UInt64 = 0
}

final class SquashfsDataWriter {
    private enum Target {
        case block(file: Int, index: Int)
        case fragment(Int)
    }
    private struct Job {
        var target: Target
        /// Empty for a sparse (all-zero) block.
        var data: [UInt8]
    }

    private let sink: SquashfsSink
    private let blockSize: Int
    private let compressors: [SquashfsCompressor]
    private let batchSize: Int

    private(set) var files: [SquashfsFileLayout] = []
    /// (start, size word) of every fragment block, in index order.
    private(set) var fragmentEntries: [(start: UInt64, size: UInt32)] = []
    private(set) var dataBlocks = 0
    private var fragmentBuffer: [UInt8] = []
    private var fragmentCounter = 0
    private var pending: [Job] = []

    init(sink: SquashfsSink, blockSize: Int, compressors: [SquashfsCompressor]) {
        self.sink = sink
        self.blockSize = blockSize
        self.compressors = compressors
        // Enough blocks per batch to keep every worker busy while bounding memory (~4 MiB).
        batchSize = max(8 * compressors.count, (4 << 20) / blockSize)
        fragmentBuffer.reserveCapacity(blockSize)
    }

    /// Streams one file's content; returns its index in `files`.
    func add(_ content: Content, from tree: FileTree) throws -> Int {
        let id = files.count
        files.append(SquashfsFileLayout(size: UInt64(content.size)))
        guard content.size > 0 else { return id }
        var block: [UInt8] = []
        block.reserveCapacity(min(blockSize, Int(content.size)))
        var index = 0
        try tree.readChunks(of: content, chunkSize: blockSize) { chunk in
            var start = 0
            while start < chunk.count {
                let n = min(blockSize - block.count, chunk.count - start)
                block.append(contentsOf: UnsafeRawBufferPointer(rebasing: chunk[start..<(start + n)]))
                start += n
                if block.count == blockSize {
                    let zero = block.withUnsafeBytes { ImageFile.isZero($0) }
                    try enqueue(Job(target: .block(file: id, index: index), data: zero ? [] : block))
                    index += 1
                    block.removeAll(keepingCapacity: true)
                }
            }
        }
        guard UInt64(index) * UInt64(blockSize) + UInt64(block.count) == UInt64(content.size) else {
            throw SquashfsWriter.Error.contentChanged(expected: content.size)
        }
        if !block.isEmpty, index > 0 {
            // As mksquashfs does by default, only files smaller than a block share fragment
            // blocks; a larger file's tail is its own short last block (smaller images: fewer
            // fragments to index, and tails compress with their file's neighbours in the batch).
            try enqueue(Job(target: .block(file: id, index: index), data: block))
        } else if !block.isEmpty {
            if fragmentBuffer.count + block.count > blockSize { try flushFragment() }
            files[id].fragment = UInt32(fragmentCounter)
            files[id].fragmentOffset = UInt32(fragmentBuffer.count)
            fragmentBuffer.append(contentsOf: block)
        }
        return id
    }

    /// Writes the last fragment and every pending block.
    func finish() throws {
        try flushFragment()
        try runBatch()
    }

    private func flushFragment() throws {
        guard !fragmentBuffer.isEmpty else { return }
        try enqueue(Job(target: .fragment(fragmentCounter), data: fragmentBuffer))
        fragmentCounter += 1
        fragmentBuffer.removeAll(keepingCapacity: true)
    }

    private func enqueue(_ job: Job) throws {
        pending.append(job)
        if pending.count >= batchSize { try runBatch() }
    }

    /// Compresses the pending jobs in parallel, then writes them in order.
    private func runBatch() throws {
        guard !pending.isEmpty else { return }
        try Task.checkCancellation()
        let jobs = pending
        pending.removeAll(keepingCapacity: true)
        var results = [[UInt8]?](repeating: nil, count: jobs.count)
        let workers = min(compressors.count, jobs.count)
        // The next job to take; each index is handed to exactly one worker.
        let next = Atomic<Int>(0)
        // nonisolated(unsafe): worker k uses only compressors[k], so no compressor is shared.
        nonisolated(unsafe) let compressors = self.compressors
        results.withUnsafeMutableBufferPointer { out in
            // nonisolated(unsafe): each worker writes only the indices it took from `next`, and
            // concurrentPerform returns only after every worker has finished.
            nonisolated(unsafe) let outPointer = out
            DispatchQueue.concurrentPerform(iterations: workers) { worker in
                let compressor = compressors[worker]
                while true {
                    let i = next.wrappingAdd(1, ordering: .relaxed).oldValue
                    guard i < jobs.count else { return }
                    if !jobs[i].data.isEmpty { outPointer[i] = compressor.compress(jobs[i].data) }
                }
            }
        }
        for (i, job) in jobs.enumerated() {
            let start = UInt64(sink.position)
            var word: UInt32 = 0
            if job.data.isEmpty {
                word = 0
            } else if let packed = results[i] {
                try sink.write(packed)
                word = UInt32(packed.count)
            } else {
                try sink.write(job.data)
                word = UInt32(job.data.count) | SquashfsFormat.dataUncompressed
            }
            switch job.target {
            case .block(let file, let index):
                if index == 0 { files[file].blocksStart = start }
                files[file].blockSizes.append(word)
                if job.data.isEmpty { files[file].sparseBytes += UInt64(blockSize) }
                dataBlocks += 1
            case .fragment:
                fragmentEntries.append((start, word))
            }
        }
    }
}
