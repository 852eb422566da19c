// A signal handler that does nothing but write the signal number to a pipe: the one thing that
// is safe in a handler and wakes a thread reliably whatever the other threads' signal masks are
// (libdispatch's signal sources on Linux miss signals delivered to threads that do not block them
// while the disposition is SIG_IGN).
#include "CIngotSystem.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t ingot_signal_pipe = -1;

static void ingot_signal_handler(int signo) {
    int saved = errno;
    unsigned char byte = (unsigned char)signo;
    if (ingot_signal_pipe >= 0) (void)write(ingot_signal_pipe, &byte, 1);
    errno = saved;
}

int ingot_signal_catch(int signo, int pipe_write_fd) {
    ingot_signal_pipe = pipe_write_fd;
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = ingot_signal_handler;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    return sigaction(signo, &action, NULL);
}

int ingot_signal_default(int signo) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = SIG_DFL;
    sigemptyset(&action.sa_mask);
    return sigaction(signo, &action, NULL);
}
