// C seam for IngotFlash: the block-device ioctls, O_DIRECT and memfd that glibc only declares under
// _GNU_SOURCE (or as macros), wrapped as plain functions Swift can call. Every function returns
// what the underlying call returns (-1 with errno set on failure).
#pragma once
#include <stdint.h>
#include <sys/types.h>

/// The O_DIRECT open flag for this architecture.
int cflash_o_direct(void);
/// Turns O_DIRECT on or off on an open descriptor (fcntl F_SETFL).
int cflash_set_direct(int fd, int on);
/// memfd_create(name, MFD_CLOEXEC).
int cflash_memfd(const char *name);

/// BLKGETSIZE64: the device size in bytes.
int cflash_blk_size64(int fd, uint64_t *bytes);
/// BLKGETDISKSEQ: the kernel's disk sequence number (ENOTTY on kernels before 5.15).
int cflash_blk_diskseq(int fd, uint64_t *seq);
/// BLKSSZGET: the logical block size.
int cflash_blk_logical_block_size(int fd, int *size);
/// BLKROGET: 1 when the device is read-only.
int cflash_blk_readonly(int fd, int *ro);
/// BLKRRPART: re-read the partition table.
int cflash_blk_rrpart(int fd);
/// BLKZEROOUT over [offset, offset + length).
int cflash_blk_zeroout(int fd, uint64_t offset, uint64_t length);
/// BLKDISCARD over [offset, offset + length).
int cflash_blk_discard(int fd, uint64_t offset, uint64_t length);
/// BLKFLSBUF: write back and drop the device's buffer cache.
int cflash_blk_flsbuf(int fd);
/// posix_fadvise(POSIX_FADV_DONTNEED) over a range (returns the error number, 0 on success).
int cflash_fadvise_dontneed(int fd, int64_t offset, int64_t length);

/// major(), minor() and makedev() (macros in glibc).
unsigned int cflash_major(uint64_t dev);
unsigned int cflash_minor(uint64_t dev);
uint64_t cflash_makedev(unsigned int major, unsigned int minor);
