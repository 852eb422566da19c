// Handing the terminal's foreground to a child's process group (an interactive console such as
// `ingot run` with QEMU on stdio, so the child reads the keyboard) and taking it back afterwards.

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// The terminal foreground given to a process group for the lifetime of a run.
public final class TerminalForeground: Sendable {
    private let previous: pid_t
    private let active: Bool

    /// Gives the controlling terminal (when stdin is one) to `group`.
    public init(group: pid_t) {
        guard isatty(STDIN_FILENO) == 1 else {
            previous = 0
            active = false
            return
        }
        previous = tcgetpgrp(STDIN_FILENO)
        let old = signal(SIGTTOU, SIG_IGN)
        active = tcsetpgrp(STDIN_FILENO, group) == 0
        signal(SIGTTOU, old)
    }

    /// Takes the terminal back for ingot's own group.
    public func restore() {
        guard active else { return }
        let old = signal(SIGTTOU, SIG_IGN)
        _ = tcsetpgrp(STDIN_FILENO, previous)
        signal(SIGTTOU, old)
    }
}
