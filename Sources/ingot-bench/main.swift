// ingot-bench: benchmark commands (compose/initramfs vs libarchive read; disk image vs genimage;
// boot matrix vs hand-run QEMU). Filled in by the benchmarks work.
print("ingot-bench: no benchmarks yet")
