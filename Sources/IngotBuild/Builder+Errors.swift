// Why a build stopped, as cases the callers decide on (the matrix skips a cell only for
// `.formatUnavailable`; everything else is an error), each naming the input and what to do.

import IngotContract

extension Builder {
    /// A build failure the caller can act on by case, not by reading the text.
    public enum Error: Swift.Error, CustomStringConvertible, Equatable {
        /// The board cannot have this output at all (an ISO for a Raspberry Pi): a skip, not a fault.
        case formatUnavailable(format: OutputFormat, board: String, reason: String)
        /// No output format was asked for.
        case noFormats(board: String)
        /// A lock file named on the command line does not exist.
        case lockMissing(path: String)
        /// A component of the output path is a file, so the directory cannot exist.
        case outputNotDirectory(path: String, blocking: String)
        /// The output directory cannot be created or written (read-only file system, permissions).
        case outputUnwritable(path: String, location: String, reason: String)
        /// A finished output could not be moved into the output directory.
        case commitFailed(name: String, directory: String, reason: String)
        /// A host tool the build runs failed.
        case toolFailed(tool: String, output: String)
        /// An output could not be written into the staging directory.
        case writeFailed(path: String, reason: String)

        public var description: String {
            switch self {
            case .formatUnavailable(let format, let board, let reason):
                return "board \(board) cannot have the \(format) format: \(reason)"
            case .noFormats(let board):
                return
                    "no output format was asked for \(board); pass --format with raw, qcow2, iso, kernel+initrd or tar"
            case .lockMissing(let path):
                return "lock file \(path) does not exist; check the --lock path, or run 'ingot lock' to write one"
            case .outputNotDirectory(let path, let blocking):
                return
                    "output directory \(path): \(blocking) is a file, not a directory; choose another -o or move that file away"
            case .outputUnwritable(let path, let location, let reason):
                return "output directory \(path): cannot write in \(location) (\(reason)); choose a writable -o"
            case .commitFailed(let name, let directory, let reason):
                return
                    "cannot move \(name) into \(directory) (\(reason)); check free space and permissions there, then build again"
            case .toolFailed(let tool, let output):
                return
                    "\(tool) failed: \(output.trimmingCharacters(in: .whitespacesAndNewlines)); check that ci/bootstrap installed it and the output directory has room"
            case .writeFailed(let path, let reason):
                return "cannot write \(path) (\(reason)); check free space and permissions of the output directory"
            }
        }

        /// True for the one case a test matrix reports as skipped: the output cannot exist for this board.
        public var isUnavailableFormat: Bool {
            if case .formatUnavailable = self { return true }
            return false
        }
    }
}
