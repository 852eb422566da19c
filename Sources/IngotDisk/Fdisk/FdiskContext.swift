// The one seam to libfdisk: `FdiskContext` owns a `struct fdisk_context *`, frees it in
// `deinit`, and turns every negative return code into `FdiskContext.Error` in `check(_:_:)`.
// `FdiskEntry` is the plain Swift copy of one row of a table read back from a disk.

import CFdisk
import Foundation

/// One partition as libfdisk reports it, copied out of C memory.
public struct FdiskEntry: Sendable, Equatable {
    /// 1-based partition number.
    public var number: Int
    /// First sector.
    public var start: UInt64
    /// Length in sectors.
    public var sectors: UInt64
    /// MBR type code (dos tables) or 0.
    public var code: UInt32
    /// GPT type GUID (gpt tables), upper case.
    public var typeGUID: String?
    /// libfdisk's human name of the type ("Linux filesystem", "W95 FAT32 (LBA)").
    public var typeName: String?
    /// GPT partition UUID (gpt tables).
    public var uuid: String?
    /// GPT partition name.
    public var name: String?
    public var bootable: Bool
}

/// A libfdisk context bound to one image file.
public final class FdiskContext {
    public enum Error: Swift.Error, CustomStringConvertible {
        case call(String, path: String, partition: Int?, code: Int32)
        case noContext
        case unknownType(String, label: String, path: String, partition: Int)

        public var description: String {
            switch self {
            case .call(let fn, let path, let partition, let code):
                let part = partition.map { " partition \($0):" } ?? ""
                let why = String(cString: strerror(code < 0 ? -code : code))
                return "\(path):\(part) libfdisk \(fn) failed: \(why) (\(code)); check that the image exists, "
                    + "is writable and large enough for the layout"
            case .noContext:
                return "libfdisk could not allocate a context (out of memory?)"
            case .unknownType(let t, let label, let path, let partition):
                return "\(path): partition \(partition): libfdisk's \(label) label does not know type '\(t)'"
            }
        }
    }

    let cxt: OpaquePointer
    /// The image path the context is bound to (for errors).
    public let path: String
    private var assigned = false

    /// Opens `path` in libfdisk (read-only unless `writable`).
    public init(path: String, writable: Bool) throws {
        guard let c = fdisk_new_context() else { throw Error.noContext }
        cxt = c
        self.path = path
        // Dialogs would block on stdin; every value we need is set explicitly.
        fdisk_disable_dialogs(cxt, 1)
        try check("fdisk_assign_device", fdisk_assign_device(cxt, path, writable ? 0 : 1))
        assigned = true
    }

    deinit {
        if assigned { fdisk_deassign_device(cxt, 1) }
        fdisk_unref_context(cxt)
    }

    /// Turns a libfdisk return code into a thrown error; the single place C errors become Swift ones.
    @discardableResult
    func check(_ fn: String, _ rc: Int32, partition: Int? = nil) throws -> Int32 {
        guard rc >= 0 else { throw Error.call(fn, path: path, partition: partition, code: rc) }
        return rc
    }

    /// Sector size libfdisk uses for this image (512 for image files).
    public var sectorSize: UInt64 { UInt64(fdisk_get_sector_size(cxt)) }

    /// Whether a partition table was found on the image.
    public var hasLabel: Bool { fdisk_has_label(cxt) != 0 }

    /// The label type name ("dos", "gpt"), if any.
    public var labelName: String? {
        guard hasLabel, let lb = fdisk_get_label(cxt, nil), let name = fdisk_label_get_name(lb) else { return nil }
        return String(cString: name)
    }

    /// Creates a new empty label ("dos" or "gpt") in memory.
    public func createLabel(_ name: String) throws {
        try check("fdisk_create_disklabel(\(name))", fdisk_create_disklabel(cxt, name))
    }

    /// The disk identifier (GPT GUID or dos `0x...`).
    public func diskID() throws -> String {
        var id: UnsafeMutablePointer<CChar>? = nil
        try check("fdisk_get_disklabel_id", fdisk_get_disklabel_id(cxt, &id))
        defer { free(id) }
        return id.map { String(cString: $0) } ?? ""
    }

    /// Sets the disk identifier (GPT GUID or dos `0x...`).
    public func setDiskID(_ id: String) throws {
        try check("fdisk_set_disklabel_id_from_string(\(id))", fdisk_set_disklabel_id_from_string(cxt, id))
    }

    /// Adds a partition at an explicit sector range; returns the 1-based number libfdisk gave it.
    /// - Parameters:
    ///   - number: 1-based partition number wanted.
    ///   - type: MBR code (as `0xNN`) for dos or type GUID for gpt.
    @discardableResult
    public func addPartition(
        number: Int, start: UInt64, sectors: UInt64, type: String, name: String?, uuid: String?
    ) throws -> Int {
        guard let pa = fdisk_new_partition() else { throw Error.noContext }
        defer { fdisk_unref_partition(pa) }
        let fn = "fdisk_partition_set_*"
        try check(fn, fdisk_partition_set_partno(pa, number - 1), partition: number)
        try check(fn, fdisk_partition_set_start(pa, start), partition: number)
        try check(fn, fdisk_partition_set_size(pa, sectors), partition: number)
        try check(fn, fdisk_partition_size_explicit(pa, 1), partition: number)
        guard let lb = fdisk_get_label(cxt, nil), let pt = fdisk_label_parse_parttype(lb, type) else {
            throw Error.unknownType(type, label: labelName ?? "?", path: path, partition: number)
        }
        defer { fdisk_unref_parttype(pt) }
        try check("fdisk_partition_set_type(\(type))", fdisk_partition_set_type(pa, pt), partition: number)
        if let name { try check("fdisk_partition_set_name", fdisk_partition_set_name(pa, name), partition: number) }
        if let uuid { try check("fdisk_partition_set_uuid", fdisk_partition_set_uuid(pa, uuid), partition: number) }
        var got: Int = 0
        try check("fdisk_add_partition", fdisk_add_partition(cxt, pa, &got), partition: number)
        return got + 1
    }

    /// Toggles the dos active (bootable) flag of 1-based partition `number`.
    public func toggleBootable(_ number: Int) throws {
        try check(
            "fdisk_toggle_partition_flag(active)",
            fdisk_toggle_partition_flag(cxt, number - 1, UInt(DOS_FLAG_ACTIVE)), partition: number)
    }

    /// Writes the in-memory label to the image.
    public func write() throws {
        try check("fdisk_write_disklabel", fdisk_write_disklabel(cxt))
    }

    /// Closes the device; further calls fail. Image files are not fsynced here (libfdisk would
    /// flush every byte written before the table): the caller syncs the finished image once.
    /// - Parameter sync: fsync on close (for block devices).
    public func close(sync: Bool = false) throws {
        guard assigned else { return }
        assigned = false
        try check("fdisk_deassign_device", fdisk_deassign_device(cxt, sync ? 0 : 1))
    }

    /// Reads every partition of the current label.
    public func partitions() throws -> [FdiskEntry] {
        guard hasLabel else { return [] }
        var tb: OpaquePointer? = nil
        try check("fdisk_get_partitions", fdisk_get_partitions(cxt, &tb))
        guard let tb else { return [] }
        defer { fdisk_unref_table(tb) }
        var out: [FdiskEntry] = []
        let isGPT = labelName == "gpt"
        for i in 0..<fdisk_table_get_nents(tb) {
            guard let pa = fdisk_table_get_partition(tb, i) else { continue }
            let pt = fdisk_partition_get_type(pa)
            let code = pt.map { fdisk_parttype_get_code($0) } ?? 0
            let guid =
                isGPT ? pt.flatMap { fdisk_parttype_get_string($0) }.map { String(cString: $0).uppercased() } : nil
            out.append(
                FdiskEntry(
                    number: fdisk_partition_get_partno(pa) + 1,
                    start: fdisk_partition_get_start(pa), sectors: fdisk_partition_get_size(pa),
                    code: code, typeGUID: guid,
                    typeName: pt.flatMap { fdisk_parttype_get_name($0) }.map { String(cString: $0) },
                    uuid: fdisk_partition_get_uuid(pa).map { String(cString: $0).uppercased() },
                    name: fdisk_partition_get_name(pa).map { String(cString: $0) },
                    bootable: fdisk_partition_is_bootable(pa) != 0))
        }
        return out
    }
}
