// Errors of a flash run that are not about opening a target: the image not matching its bmap or
// manifest, a corrupt compressed stream, a read-back that differs (with the first bad offset),
// a partition table the target does not show, and cancellation.

/// A flash failure after the targets were accepted.
public enum FlashError: Swift.Error, CustomStringConvertible, Equatable, Sendable {
    /// The image's bytes in `[start, end)` do not hash to what its bmap (or manifest) says.
    case sourceMismatch(image: String, reference: String, start: Int64, end: Int64, expected: String, actual: String)
    /// The decompressed stream is not as long as the image should be.
    case sourceLength(image: String, expected: Int64, actual: Int64)
    /// libarchive failed to decompress.
    case decompress(image: String, offset: Int64, message: String)
    /// Reading back found different bytes.
    case verifyMismatch(target: String, firstBadOffset: Int64?, start: Int64, end: Int64)
    /// The partition table on the target is not the image's.
    case tableMismatch(target: String, differences: [String])
    /// Every target failed; the image was not read to the end.
    case allTargetsFailed
    /// The run was interrupted.
    case cancelled

    public var description: String {
        switch self {
        case .sourceMismatch(let image, let reference, let start, let end, let expected, let actual):
            return
                "\(image): bytes \(start)-\(end - 1) do not match \(reference) (sha256 \(actual), expected \(expected)); "
                + "the image is corrupt or not the one the bmap was made for — the target holds an incomplete image, "
                + "rebuild or re-download and flash again"
        case .sourceLength(let image, let expected, let actual):
            return "\(image): the decompressed image is \(actual) bytes but should be \(expected) "
                + (actual < expected ? "(truncated download?)" : "(wrong bmap or manifest?)")
                + "; the target holds an incomplete image — fetch the image again"
        case .decompress(let image, let offset, let message):
            return
                "\(image): the compressed image is corrupt or truncated (\(message)) after \(offset) decompressed bytes; "
                + "the target holds an incomplete image — fetch the image again"
        case .verifyMismatch(let target, let offset, let start, let end):
            let at = offset.map { "first bad byte at offset \($0)" } ?? "bytes \(start)-\(end - 1) differ"
            return "\(target): read-back differs from the image (\(at)); the medium may be failing or counterfeit — "
                + "try another card"
        case .tableMismatch(let target, let differences):
            return "\(target): libblkid does not see the image's partition table: "
                + differences.joined(separator: "; ")
        case .allTargetsFailed:
            return "every target failed; see the errors above"
        case .cancelled:
            return "interrupted; the targets hold incomplete images — do not boot them"
        }
    }
}
