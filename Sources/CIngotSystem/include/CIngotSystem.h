// The C side of IngotSystem's interrupt stream: a signal handler that only writes the signal
// number to a pipe (async-signal-safe), read by a Swift thread that does the real work.
#ifndef CINGOTSYSTEM_H
#define CINGOTSYSTEM_H

/// Catches `signo` with a handler that writes its number (one byte) to `pipe_write_fd`.
/// Returns 0, or -1 with errno set.
int ingot_signal_catch(int signo, int pipe_write_fd);

/// Gives `signo` its default action back. Returns 0, or -1 with errno set.
int ingot_signal_default(int signo);

#endif
