// Reading files off an image's boot partition (partition 1, FAT) without mounting it: the
// Raspberry Pi harness copies the image's own u-boot.bin and DTB out, because QEMU cannot run
// the VideoCore firmware that would load them on a real board.

import Foundation
import IngotFilesystems

/// Files of the first (FAT) partition of a disk image.
public enum BootPartition {
    /// Why a file could not be taken off the boot partition.
    public enum Error: Swift.Error, CustomStringConvertible, Equatable {
        /// The image has no partition table.
        case noPartitionTable(image: String)
        /// Partition 1 is not a FAT volume.
        case notFAT(image: String, detail: String)
        /// The FAT volume has no such file.
        case missing(image: String, file: String)
        /// The copy could not be written.
        case writeFailed(path: String, reason: String)

        public var description: String {
            switch self {
            case .noPartitionTable(let image):
                return "\(image) has no partition table; it is not an Ingot disk image — build one with --format raw"
            case .notFAT(let image, let detail):
                return
                    "\(image): partition 1 is not a FAT boot partition (\(detail)); rebuild the image with 'ingot build'"
            case .missing(let image, let file):
                return
                    "\(image): the boot partition (partition 1, FAT) has no \(file); this image was not built for this board — rebuild it with --board"
            case .writeFailed(let path, let reason):
                return "cannot write \(path) (\(reason)); check free space and permissions of the run directory"
            }
        }
    }

    /// Copies `files` (paths on the FAT volume, e.g. `u-boot.bin`) out of partition 1 of `image`
    /// into `directory`, each under its base name.
    /// - Parameters:
    ///   - files: the files to copy, relative to the volume root.
    ///   - image: a raw disk image.
    ///   - directory: an existing directory for the copies.
    /// - Returns: the copies' paths, in the order of `files`.
    /// - Throws: `BootPartition.Error`, or the inspector's error for an unreadable image.
    public static func copy(_ files: [String], from image: String, into directory: String) throws -> [String] {
        let report = try ImageInspector.inspect(path: image)
        guard let boot = report.partitions.first else { throw Error.noPartitionTable(image: image) }
        let fat: FATReader
        do {
            fat = try FATReader(
                image: try ImageFile(path: image), range: ByteRange(offset: boot.offset, size: boot.size))
        } catch {
            throw Error.notFAT(image: image, detail: "\(error)")
        }
        return try files.map { file in
            let bytes: [UInt8]
            do {
                bytes = try fat.read("/" + file)
            } catch {
                throw Error.missing(image: image, file: file)
            }
            let destination = directory + "/" + (file as NSString).lastPathComponent
            do {
                try Data(bytes).write(to: URL(fileURLWithPath: destination))
            } catch {
                throw Error.writeFailed(
                    path: destination, reason: (error as NSError).localizedFailureReason ?? "\(error)")
            }
            return destination
        }
    }
}
