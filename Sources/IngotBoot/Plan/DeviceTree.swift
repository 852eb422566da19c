// A flattened device tree (DTB) read into nodes and properties, edited, and written back — the
// emulation-only changes a board profile asks for (`emulation.dtbEdits`) applied to a per-run
// copy of the DTB QEMU hands the guest, never to the image's own file. Format: devicetree.org
// specification v0.4, chapter 5 (header, memory reservation block, structure and strings blocks).

import Foundation
import IngotSpec

/// A device tree held in memory.
public struct DeviceTree: Equatable, Sendable {
    /// One node: its name (`mmc@7e300000`, "" for the root), properties in order, children in order.
    public struct Node: Equatable, Sendable {
        public var name: String
        public var properties: [(name: String, value: [UInt8])]
        public var children: [Node]

        public init(name: String, properties: [(name: String, value: [UInt8])] = [], children: [Node] = []) {
            self.name = name
            self.properties = properties
            self.children = children
        }

        public static func == (lhs: Node, rhs: Node) -> Bool {
            lhs.name == rhs.name && lhs.children == rhs.children && lhs.properties.count == rhs.properties.count
                && zip(lhs.properties, rhs.properties).allSatisfy { $0.name == $1.name && $0.value == $1.value }
        }

        /// The value of property `name`, if present.
        public func property(_ name: String) -> [UInt8]? { properties.first { $0.name == name }?.value }
    }

    /// Why a DTB could not be read or edited.
    public enum Error: Swift.Error, CustomStringConvertible, Equatable {
        /// The bytes are not a flattened device tree (or are cut short).
        case malformed(path: String, reason: String)
        /// An edit names a node the tree does not have.
        case noSuchNode(path: String, node: String)
        /// An edit names a property the node does not have.
        case noSuchProperty(path: String, node: String, property: String)

        public var description: String {
            switch self {
            case .malformed(let path, let reason):
                return "\(path) is not a valid device tree blob (\(reason)); rebuild the image or check the board's dtb"
            case .noSuchNode(let path, let node):
                return
                    "\(path) has no node \(node); fix emulation.dtbEdits in the board profile (list the nodes with 'fdtget -l \(path) /')"
            case .noSuchProperty(let path, let node, let property):
                return
                    "\(path): node \(node) has no property '\(property)'; fix emulation.dtbEdits in the board profile"
            }
        }
    }

    static let magic: UInt32 = 0xD00D_FEED
    static let beginNode: UInt32 = 1, endNode: UInt32 = 2, prop: UInt32 = 3, nop: UInt32 = 4, end: UInt32 = 9

    /// The root node.
    public var root: Node
    /// The memory reservation block as (address, size) pairs, kept as read.
    public var reservations: [(address: UInt64, size: UInt64)]
    /// The boot CPU's physical id from the header.
    public var bootCPU: UInt32

    public static func == (lhs: DeviceTree, rhs: DeviceTree) -> Bool {
        lhs.root == rhs.root && lhs.bootCPU == rhs.bootCPU && lhs.reservations.count == rhs.reservations.count
            && zip(lhs.reservations, rhs.reservations).allSatisfy { $0.address == $1.address && $0.size == $1.size }
    }

    /// Parses a DTB.
    /// - Parameters:
    ///   - bytes: the blob.
    ///   - path: where it came from (for errors).
    public init(bytes: [UInt8], path: String) throws {
        func bad(_ reason: String) -> Error { .malformed(path: path, reason: reason) }
        func u32(_ offset: Int) throws -> UInt32 {
            guard offset >= 0, offset + 4 <= bytes.count else { throw bad("field at \(offset) past the end") }
            return bytes[offset..<offset + 4].reduce(0) { $0 << 8 | UInt32($1) }
        }
        guard bytes.count >= 40, try u32(0) == Self.magic else { throw bad("no d00dfeed magic") }
        let total = Int(try u32(4))
        let structOffset = Int(try u32(8)), stringsOffset = Int(try u32(12)), reserveOffset = Int(try u32(16))
        let version = try u32(20)
        guard total <= bytes.count, version >= 16 else { throw bad("size \(total) or version \(version) unsupported") }
        bootCPU = try u32(28)
        let stringsSize = Int(try u32(32))
        guard stringsOffset + stringsSize <= total else { throw bad("strings block past the end") }

        var reservations: [(UInt64, UInt64)] = []
        var at = reserveOffset
        while true {
            let address = UInt64(try u32(at)) << 32 | UInt64(try u32(at + 4))
            let size = UInt64(try u32(at + 8)) << 32 | UInt64(try u32(at + 12))
            at += 16
            if address == 0 && size == 0 { break }
            reservations.append((address, size))
        }
        self.reservations = reservations

        func string(at offset: Int, limit: Int) throws -> (String, Int) {
            guard offset < limit, let zero = bytes[offset..<limit].firstIndex(of: 0) else {
                throw bad("unterminated name at \(offset)")
            }
            return (String(decoding: bytes[offset..<zero], as: UTF8.self), zero + 1)
        }
        var cursor = structOffset
        var stack: [Node] = []
        var finished: Node?
        while finished == nil {
            let token = try u32(cursor)
            cursor += 4
            switch token {
            case Self.beginNode:
                let (name, next) = try string(at: cursor, limit: total)
                cursor = (next + 3) & ~3
                stack.append(Node(name: name))
            case Self.prop:
                let length = Int(try u32(cursor)), nameOffset = Int(try u32(cursor + 4))
                cursor += 8
                guard cursor + length <= total, !stack.isEmpty else {
                    throw bad("property outside a node or past the end")
                }
                let (name, _) = try string(at: stringsOffset + nameOffset, limit: stringsOffset + stringsSize)
                stack[stack.count - 1].properties.append((name, Array(bytes[cursor..<cursor + length])))
                cursor = (cursor + length + 3) & ~3
            case Self.endNode:
                guard let node = stack.popLast() else { throw bad("unbalanced end of node") }
                if stack.isEmpty { finished = node } else { stack[stack.count - 1].children.append(node) }
            case Self.nop:
                continue
            default:
                throw bad("unexpected token \(token) at \(cursor - 4)")
            }
        }
        root = finished ?? Node(name: "")
    }

    /// Reads a DTB file.
    public init(contentsOf path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw Error.malformed(path: path, reason: "cannot read the file")
        }
        try self.init(bytes: Array(data), path: path)
    }

    /// The blob (version 17), strings deduplicated in first-use order.
    public func serialized() -> [UInt8] {
        var structure: [UInt8] = []
        var strings: [UInt8] = []
        var stringOffsets: [String: Int] = [:]
        func put(_ value: UInt32, into out: inout [UInt8]) {
            out += [UInt8(value >> 24), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)]
        }
        func pad(_ out: inout [UInt8]) { while out.count % 4 != 0 { out.append(0) } }
        func emit(_ node: Node) {
            put(Self.beginNode, into: &structure)
            structure += Array(node.name.utf8) + [0]
            pad(&structure)
            for property in node.properties {
                let offset: Int
                if let known = stringOffsets[property.name] {
                    offset = known
                } else {
                    offset = strings.count
                    stringOffsets[property.name] = offset
                    strings += Array(property.name.utf8) + [0]
                }
                put(Self.prop, into: &structure)
                put(UInt32(property.value.count), into: &structure)
                put(UInt32(offset), into: &structure)
                structure += property.value
                pad(&structure)
            }
            for child in node.children { emit(child) }
            put(Self.endNode, into: &structure)
        }
        emit(root)
        put(Self.end, into: &structure)

        var reserve: [UInt8] = []
        for (address, size) in reservations + [(0, 0)] {
            put(UInt32(address >> 32), into: &reserve)
            put(UInt32(address & 0xFFFF_FFFF), into: &reserve)
            put(UInt32(size >> 32), into: &reserve)
            put(UInt32(size & 0xFFFF_FFFF), into: &reserve)
        }
        let reserveOffset = 40, structOffset = reserveOffset + reserve.count
        let stringsOffset = structOffset + structure.count
        let total = stringsOffset + strings.count
        var out: [UInt8] = []
        for field in [
            Self.magic, UInt32(total), UInt32(structOffset), UInt32(stringsOffset), UInt32(reserveOffset), 17, 16,
            bootCPU,
            UInt32(strings.count), UInt32(structure.count),
        ] {
            put(field, into: &out)
        }
        return out + reserve + structure + strings
    }

    /// Applies `edits`; every node and property they name must exist.
    /// - Parameter path: the DTB's file name, for errors.
    public mutating func apply(_ edits: DeviceTreeEdits, path: String) throws {
        for node in edits.deleteNodes {
            try modify(node, path: path) { parent, index in parent.children.remove(at: index) }
        }
        for entry in edits.deleteProperties {
            let parts = entry.split(separator: ":", maxSplits: 1).map(String.init)
            let (node, property) = (parts[0], parts.count > 1 ? parts[1] : "")
            try modify(node, path: path) { parent, index in
                guard let at = parent.children[index].properties.firstIndex(where: { $0.name == property }) else {
                    throw Error.noSuchProperty(path: path, node: node, property: property)
                }
                parent.children[index].properties.remove(at: at)
            }
        }
        for node in edits.disable {
            try modify(node, path: path) { parent, index in
                let disabled = Array("disabled".utf8) + [0]
                if let at = parent.children[index].properties.firstIndex(where: { $0.name == "status" }) {
                    parent.children[index].properties[at].value = disabled
                } else {
                    parent.children[index].properties.append(("status", disabled))
                }
            }
        }
    }

    /// The node at `nodePath`, if present.
    public func node(at nodePath: String) -> Node? {
        var current = root
        for component in nodePath.split(separator: "/") {
            guard let child = current.children.first(where: { $0.name == component }) else { return nil }
            current = child
        }
        return current
    }

    /// Runs `change` on the parent of the node at `nodePath` with the node's index.
    private mutating func modify(_ nodePath: String, path: String, _ change: (inout Node, Int) throws -> Void) throws {
        let components = nodePath.split(separator: "/").map(String.init)
        guard !components.isEmpty else { throw Error.noSuchNode(path: path, node: nodePath) }
        func walk(_ node: inout Node, _ rest: ArraySlice<String>) throws {
            guard let index = node.children.firstIndex(where: { $0.name == rest.first }) else {
                throw Error.noSuchNode(path: path, node: nodePath)
            }
            if rest.count == 1 {
                try change(&node, index)
            } else {
                try walk(&node.children[index], rest.dropFirst())
            }
        }
        try walk(&root, components[...])
    }
}
