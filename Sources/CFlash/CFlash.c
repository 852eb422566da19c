// Wrappers for the Linux block-device ioctls and GNU-only calls IngotFlash uses (see CFlash.h).
#define _GNU_SOURCE
#include "CFlash.h"
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/sysmacros.h>

#ifndef BLKGETDISKSEQ
#define BLKGETDISKSEQ _IOR(0x12, 128, __u64)
#endif

int cflash_o_direct(void) { return O_DIRECT; }

int cflash_set_direct(int fd, int on) {
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0) return -1;
    flags = on ? (flags | O_DIRECT) : (flags & ~O_DIRECT);
    return fcntl(fd, F_SETFL, flags);
}

int cflash_memfd(const char *name) { return memfd_create(name, MFD_CLOEXEC); }

int cflash_blk_size64(int fd, uint64_t *bytes) { return ioctl(fd, BLKGETSIZE64, bytes); }

int cflash_blk_diskseq(int fd, uint64_t *seq) { return ioctl(fd, BLKGETDISKSEQ, seq); }

int cflash_blk_logical_block_size(int fd, int *size) { return ioctl(fd, BLKSSZGET, size); }

int cflash_blk_readonly(int fd, int *ro) { return ioctl(fd, BLKROGET, ro); }

int cflash_blk_rrpart(int fd) { return ioctl(fd, BLKRRPART, 0); }

int cflash_blk_zeroout(int fd, uint64_t offset, uint64_t length) {
    uint64_t range[2] = {offset, length};
    return ioctl(fd, BLKZEROOUT, range);
}

int cflash_blk_discard(int fd, uint64_t offset, uint64_t length) {
    uint64_t range[2] = {offset, length};
    return ioctl(fd, BLKDISCARD, range);
}

int cflash_blk_flsbuf(int fd) { return ioctl(fd, BLKFLSBUF, 0); }

int cflash_fadvise_dontneed(int fd, int64_t offset, int64_t length) {
    return posix_fadvise(fd, offset, length, POSIX_FADV_DONTNEED);
}

unsigned int cflash_major(uint64_t dev) { return major(dev); }
unsigned int cflash_minor(uint64_t dev) { return minor(dev); }
uint64_t cflash_makedev(unsigned int ma, unsigned int mi) { return makedev(ma, mi); }
