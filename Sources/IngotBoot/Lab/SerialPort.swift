// The console of a real board: a serial device (USB-serial adapter, on-board UART, or a
// pseudo-terminal) opened non-blocking, put in raw mode at the lab's baud rate with termios, and
// read in chunks. Opening never makes it the controlling terminal.

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif
import Foundation

/// An open serial device.
final class SerialPort {
    /// Why the device could not be used.
    enum Error: Swift.Error, CustomStringConvertible, Equatable {
        case missing(path: String)
        case openFailed(path: String, errno: Int32)
        case notATerminal(path: String)
        case configureFailed(path: String, errno: Int32)

        var description: String {
            switch self {
            case .missing(let path): return "serial device \(path) does not exist"
            case .openFailed(let path, let code):
                return "cannot open serial device \(path): \(String(cString: strerror(code)))"
            case .notATerminal(let path): return "\(path) is not a serial device (not a terminal)"
            case .configureFailed(let path, let code):
                return "cannot set up serial device \(path): \(String(cString: strerror(code)))"
            }
        }
    }

    let path: String
    let fd: Int32

    /// Opens `path` raw at `baud` (8N1, no flow control), discarding anything already buffered.
    init(path: String, baud: Int) throws {
        guard access(path, F_OK) == 0 else { throw Error.missing(path: path) }
        let fd = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { throw Error.openFailed(path: path, errno: errno) }
        guard isatty(fd) == 1 else {
            close(fd)
            throw Error.notATerminal(path: path)
        }
        var options = termios()
        guard tcgetattr(fd, &options) == 0 else {
            let code = errno
            close(fd)
            throw Error.configureFailed(path: path, errno: code)
        }
        cfmakeraw(&options)
        options.c_cflag |= tcflag_t(CLOCAL) | tcflag_t(CREAD)
        options.c_cflag &= ~(tcflag_t(CRTSCTS) | tcflag_t(CSTOPB))
        let speed = Self.speed(baud)
        guard cfsetispeed(&options, speed) == 0, cfsetospeed(&options, speed) == 0,
            tcsetattr(fd, TCSANOW, &options) == 0
        else {
            let code = errno
            close(fd)
            throw Error.configureFailed(path: path, errno: code)
        }
        tcflush(fd, TCIOFLUSH)
        self.path = path
        self.fd = fd
    }

    deinit { close(fd) }

    /// The termios constant for `baud` (the lab file has been checked against the supported list).
    static func speed(_ baud: Int) -> speed_t {
        let table: [Int: Int32] = [
            1200: B1200, 2400: B2400, 4800: B4800, 9600: B9600, 19200: B19200, 38400: B38400, 57600: B57600,
            115_200: B115200, 230_400: B230400, 460_800: B460800, 500_000: B500000, 576_000: B576000, 921_600: B921600,
            1_000_000: B1000000, 1_152_000: B1152000, 1_500_000: B1500000, 2_000_000: B2000000, 3_000_000: B3000000,
            4_000_000: B4000000,
        ]
        return speed_t(table[baud] ?? B115200)
    }

    /// What happened while waiting for console bytes.
    enum ReadResult {
        case data([UInt8])
        case idle
        /// The device went away (the pty's other side closed, the adapter was unplugged).
        case closed
    }

    /// Waits up to `timeout` seconds for bytes.
    func read(timeout: Double) -> ReadResult {
        var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let ready = poll(&entry, 1, Int32(timeout * 1000))
        if ready <= 0 { return .idle }
        var buffer = [UInt8](repeating: 0, count: 65536)
        let count = Glibc.read(fd, &buffer, buffer.count)
        if count > 0 { return .data(Array(buffer[0..<count])) }
        if count < 0 && (errno == EAGAIN || errno == EINTR) { return .idle }
        // EIO on a pty whose master closed; 0 on hang-up.
        return entry.revents & Int16(POLLHUP | POLLERR) != 0 || count == 0 || errno == EIO ? .closed : .idle
    }
}
