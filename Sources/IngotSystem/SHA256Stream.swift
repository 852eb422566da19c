// The one streaming sha256: an incremental hasher, and whole files, byte ranges of files and
// the next bytes of an open descriptor, read in 1 MiB blocks (never the whole file in memory).

import Crypto
import Foundation
import SystemPackage

/// Incremental sha256 with helpers for files, file ranges and descriptors.
public struct SHA256Stream {
    private var hasher = SHA256()
    /// Bytes hashed so far.
    public private(set) var byteCount: Int64 = 0

    /// A fresh hasher.
    public init() {}

    /// Adds `bytes`.
    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        hasher.update(bufferPointer: bytes)
        byteCount += Int64(bytes.count)
    }

    /// Adds `data`.
    public mutating func update<D: DataProtocol>(_ data: D) {
        hasher.update(data: data)
        byteCount += Int64(data.count)
    }

    /// The 32-byte digest.
    public func finalize() -> [UInt8] { Array(hasher.finalize()) }

    /// The digest as 64 lowercase hex digits.
    public func hex() -> String { Self.hex(finalize()) }

    /// Lowercase hex of `bytes`.
    public static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// sha256 of `bytes`, hex.
    public static func hex<D: DataProtocol>(of bytes: D) -> String {
        var stream = SHA256Stream()
        stream.update(bytes)
        return stream.hex()
    }

    // MARK: Files

    /// The digest of a whole file.
    public static func digest(ofFile path: String) throws -> [UInt8] {
        try withFile(path) { fd in try digest(reading: fd, count: .max, path: path) }
    }

    /// sha256 of a whole file, hex.
    public static func hex(ofFile path: String) throws -> String {
        hex(try digest(ofFile: path))
    }

    /// sha256 of `length` bytes of a file from `offset` (less if the file ends first), hex.
    public static func hex(ofFile path: String, offset: Int64, length: Int64) throws -> String {
        try withFile(path) { fd in try hex(of: fd, offset: offset, length: length, path: path) }
    }

    /// sha256 of `length` bytes of an open file from `offset` (positional reads: the descriptor's
    /// offset is not moved), hex.
    public static func hex(of descriptor: FileDescriptor, offset: Int64, length: Int64, path: String? = nil) throws
        -> String
    {
        var stream = SHA256Stream()
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var position = offset
        let end = length == .max ? Int64.max : offset + length
        while position < end {
            let want = Int(min(Int64(buffer.count), end - position))
            let count = try buffer.withUnsafeMutableBytes { raw in
                try call("pread", path) {
                    try descriptor.read(
                        fromAbsoluteOffset: position, into: UnsafeMutableRawBufferPointer(rebasing: raw[0..<want]))
                }
            }
            if count == 0 { break }
            buffer.withUnsafeBytes { stream.update(UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
            position += Int64(count)
        }
        return stream.hex()
    }

    /// sha256 of `length` bytes of an open file (a raw descriptor) from `offset`, hex.
    public static func hex(descriptor: Int32, offset: Int64, length: Int64, path: String? = nil) throws -> String {
        try hex(of: FileDescriptor(rawValue: descriptor), offset: offset, length: length, path: path)
    }

    /// The digest of the next `count` bytes read from `descriptor` (fewer at end of file); the
    /// descriptor's offset moves past them.
    public static func digest(reading descriptor: FileDescriptor, count: Int64, path: String? = nil) throws -> [UInt8] {
        var stream = SHA256Stream()
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var left = count
        while left > 0 {
            let want = Int(min(Int64(buffer.count), left))
            let got = try buffer.withUnsafeMutableBytes { raw in
                try call("read", path) {
                    try descriptor.read(into: UnsafeMutableRawBufferPointer(rebasing: raw[0..<want]))
                }
            }
            if got == 0 { break }
            buffer.withUnsafeBytes { stream.update(UnsafeRawBufferPointer(rebasing: $0[0..<got])) }
            left -= Int64(got)
        }
        return stream.finalize()
    }

    /// sha256 of the next `count` bytes of a Foundation file handle, hex.
    public static func hex(reading handle: FileHandle, count: Int64) throws -> String {
        hex(try digest(reading: FileDescriptor(rawValue: handle.fileDescriptor), count: count))
    }

    private static func withFile<T>(_ path: String, _ body: (FileDescriptor) throws -> T) throws -> T {
        let fd = try call("open", path) { try FileDescriptor.open(path, .readOnly, options: .closeOnExec) }
        defer { try? fd.close() }
        return try body(fd)
    }

    private static func call<T>(_ name: String, _ path: String?, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let errno as Errno {
            throw SystemCallError(name, path: path, errno: errno)
        }
    }
}
