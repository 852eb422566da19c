#!/usr/bin/env python3
"""Boot Ingot's images "by hand" with plain QEMU command lines and time boot-to-ready.

For each image it takes the exact QEMU arguments `ingot test --dry-run` prints, recreates the
per-run files by hand (a copy of the UEFI VARS, u-boot.bin and the DTB copied off the image's
boot partition with mtools), runs QEMU directly and stops the clock when the init's ready
marker appears on the serial console. Prints one JSON object: {board: seconds}.
"""
import json, os, select, shutil, subprocess, sys, tempfile, time

def plan_args(ingot, target):
    out = subprocess.run([ingot, "test", target, "--dry-run"], capture_output=True, text=True, check=True).stdout
    lines = out.splitlines()[1:]
    argv = []
    for line in lines:
        if not line.strip() or line.startswith(("firmware ", "note:", "scratch")):
            break
        argv.extend(line.strip().rstrip("\\").split())
    return argv

def prepare(argv, image, work):
    out = []
    for a in argv:
        # Replace paths of the harness's (deleted) run directory with hand-made copies.
        parts = a.split(",")
        newparts = []
        for p in parts:
            key, _, val = p.partition("=")
            path = val if val else key
            if path.startswith("/tmp/ingot-test-") or path.startswith(tempfile.gettempdir() + "/ingot-test-"):
                name = os.path.basename(path)
                dest = os.path.join(work, name)
                if not os.path.exists(dest):
                    if "VARS" in name.upper():
                        src = "/usr/share/AAVMF/AAVMF_VARS.fd" if "AAVMF" in name.upper() or "aarch64" in argv[0] else "/usr/share/OVMF/OVMF_VARS_4M.fd"
                        shutil.copy(src, dest)
                    else:
                        subprocess.run(["mcopy", "-o", "-i", image + "@@4M", "::" + name, dest], check=True)
                p = (key + "=" + dest) if val else dest
            newparts.append(p)
        out.append(",".join(newparts))
    return out

def boot(argv, timeout=120):
    start = time.monotonic()
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    buf = b""
    try:
        while time.monotonic() - start < timeout:
            r, _, _ = select.select([p.stdout], [], [], 0.2)
            if not r:
                continue
            data = os.read(p.stdout.fileno(), 65536)
            if not data:
                break
            buf = (buf + data)[-4096:]
            if b"stage=ready" in buf:
                return time.monotonic() - start
        return None
    finally:
        p.kill()
        p.wait()

def main():
    ingot, outdir, boards = sys.argv[1], sys.argv[2], sys.argv[3:]
    results = {}
    for board in boards:
        image = os.path.join(outdir, f"hello-{board}.img")
        with tempfile.TemporaryDirectory(prefix="ingot-hand-") as work:
            argv = prepare(plan_args(ingot, os.path.join(outdir, f"hello-{board}")), image, work)
            results[board] = boot(argv)
    print(json.dumps(results))

if __name__ == "__main__":
    main()
