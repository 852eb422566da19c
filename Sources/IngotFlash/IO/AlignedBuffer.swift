// Page-aligned buffers for O_DIRECT reads and writes (the kernel wants the memory, the offset and
// the length aligned to the device's logical block size; 4096 covers every device).

import Foundation

/// A page-aligned, fixed-capacity byte buffer.
// @unchecked: owns raw memory; one thread uses the bytes at a time, handed over through a lock (ChunkPool, TargetLane, ReadAhead).
final class AlignedBuffer: @unchecked Sendable {
    static let alignment = 4096
    let pointer: UnsafeMutableRawPointer
    let capacity: Int

    /// Allocates `capacity` bytes (rounded up to the alignment), zeroed.
    init(capacity: Int) {
        let size = max(Self.alignment, (capacity + Self.alignment - 1) / Self.alignment * Self.alignment)
        pointer = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: Self.alignment)
        pointer.initializeMemory(as: UInt8.self, repeating: 0, count: size)
        self.capacity = size
    }

    deinit { pointer.deallocate() }

    /// The first `count` bytes.
    func bytes(_ count: Int) -> UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: pointer, count: count) }
}
