#!/usr/bin/env python3
"""Matrix benchmark (issues 4 and 7): Ingot's boot harness against QEMU run by hand.

For every board, in the same run and on the same raw image:
  - Ingot: the whole `ingot test PREFIX --json F` command, from spawn to exit (board profile,
    artifact lookup, KVM probe, per-run files, QEMU, stage watcher, teardown);
  - by hand: the QEMU command line a person would write for the board, taken from the boot chains
    verified in shared/FACTS.md and written out below (never Ingot's own argv), with the per-run
    files a person must make (a copy of the UEFI VARS; u-boot.bin and the DTB copied off the SD
    image's boot partition with mtools), QEMU's serial console read until the ready marker, then
    QEMU stopped (SIGTERM) and reaped. Timed from the first copy to the reap.
Sides alternate which goes first on every run; runs go round the boards so that a burst of load
elsewhere hits one run of every board rather than every run of one. Then the whole matrix
(`ingot matrix`, build + boot, in parallel) is timed a few times.

Checks decide the verdict: every `ingot test` must PASS, every hand run must reach the marker, and
every matrix cell must pass; any failure prints MISSED and the script exits 1.
INGOT_BENCH_CORRUPT=matrix damages the Ingot side's image of the first board (its first MiB zeroed,
so no firmware finds a bootloader) to show that.

Prints a table with min / median / max of every figure and writes every sample as JSON.
"""
import argparse
import json
import os
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

READY = b"@@INGOT v1 stage=ready"
# A hand run ends early on what any person would recognise as a dead boot.
FAILURES = [b"Kernel panic", b"No bootable device", b"Boot failed", b"Unable to mount root", b"Internal error: "]
OVMF_CODE, OVMF_VARS = "/usr/share/OVMF/OVMF_CODE_4M.fd", "/usr/share/OVMF/OVMF_VARS_4M.fd"
AAVMF_CODE, AAVMF_VARS = "/usr/share/AAVMF/AAVMF_CODE.fd", "/usr/share/AAVMF/AAVMF_VARS.fd"
# The hand-run QEMU runs in its own session (so it can be stopped as a group); a signal to this
# script stops it too.
RUNNING = []


def stop_and_exit(signum, _frame):
    for p in RUNNING:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    sys.exit(128 + signum)


def hand_line(board, image, work):
    """Makes the per-run files for `board` in `work` and returns the QEMU argv to boot `image`.

    Written from shared/FACTS.md ("Boot chains that reached a shell line under QEMU"): TCG (KVM
    spun without output on these hosts), memory and CPU as the board profiles say, the disk as a
    virtio drive (an SD card on the Pi), and -snapshot semantics so the image stays untouched.
    The Pi line adds `thread=single` to TCG: raspi3b has 4 vCPUs that starve each other on 2
    host cores under multi-threaded TCG (benchmarks/README.md, issue 4).
    """
    disk = f"file={image},format=raw,if=virtio,snapshot=on"
    if board == "x86_64-bios":
        return ["qemu-system-x86_64", "-M", "q35", "-accel", "tcg", "-m", "512", "-nographic", "-no-reboot",
                "-drive", disk]
    if board == "x86_64-efi":
        shutil.copyfile(OVMF_VARS, f"{work}/vars.fd")
        return ["qemu-system-x86_64", "-M", "q35", "-accel", "tcg", "-m", "512", "-nographic", "-no-reboot",
                "-drive", f"if=pflash,format=raw,unit=0,readonly=on,file={OVMF_CODE}",
                "-drive", f"if=pflash,format=raw,unit=1,file={work}/vars.fd",
                "-drive", disk]
    if board == "arm64-efi":
        shutil.copyfile(AAVMF_VARS, f"{work}/vars.fd")
        return ["qemu-system-aarch64", "-M", "virt", "-cpu", "cortex-a57", "-accel", "tcg", "-m", "1024",
                "-nographic", "-no-reboot",
                "-drive", f"if=pflash,format=raw,unit=0,readonly=on,file={AAVMF_CODE}",
                "-drive", f"if=pflash,format=raw,unit=1,file={work}/vars.fd",
                "-drive", disk]
    if board == "rpi3":
        # QEMU cannot run the VideoCore firmware: U-Boot goes in as -kernel, the DTB as -dtb, both
        # copied off the FAT partition at 4 MiB; U-Boot then reads extlinux.conf from the SD image.
        # The image must be a power of two in size on QEMU 7.2 (Ingot's build already pads it).
        size = os.path.getsize(image)
        if size & (size - 1):
            raise SystemExit(f"{image}: {size} bytes is not a power of two; raspi3b on QEMU 7.2 refuses it")
        for name in ("u-boot.bin", "bcm2837-rpi-3-b.dtb"):
            subprocess.run(["mcopy", "-n", "-i", f"{image}@@4M", f"::{name}", f"{work}/{name}"], check=True)
        return ["qemu-system-aarch64", "-M", "raspi3b", "-accel", "tcg,thread=single", "-m", "1G", "-nographic",
                "-kernel", f"{work}/u-boot.bin", "-dtb", f"{work}/bcm2837-rpi-3-b.dtb",
                "-drive", f"file={image},if=sd,format=raw,snapshot=on"]
    raise SystemExit(f"no hand-written QEMU line for board {board}; add one to {__file__}")


def run_hand(board, image, log, timeout):
    """Boots `image` by hand. Returns (wall seconds, seconds to the marker or None, why it failed)."""
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="ingot-bench-hand-") as work:
        argv = hand_line(board, image, work)
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             start_new_session=True)
        RUNNING.append(p)
        tail, marker, why = b"", None, None
        with open(log, "wb") as out:
            while True:
                left = timeout - (time.monotonic() - start)
                if left <= 0:
                    why = f"no ready marker within {timeout} s"
                    break
                ready, _, _ = select.select([p.stdout], [], [], min(left, 1.0))
                if not ready:
                    continue
                data = os.read(p.stdout.fileno(), 65536)
                if not data:
                    why = f"QEMU exited ({p.wait()}) before the ready marker"
                    break
                out.write(data)
                tail = (tail + data)[-8192:]
                if READY in tail:
                    marker = time.monotonic() - start
                    break
                bad = next((f for f in FAILURES if f in tail), None)
                if bad:
                    why = f"console said {bad.decode()!r}"
                    break
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        p.stdout.close()
        RUNNING.remove(p)
    return time.monotonic() - start, marker, why


def stage_times(doc):
    st = doc.get("verdict", {}).get("stageTimes", {})
    if isinstance(st, list):  # [stage, seconds, stage, seconds, ...]
        st = dict(zip(st[0::2], st[1::2]))
    return st


def run_ingot(ingot, target, board, log, result):
    """`ingot test TARGET --board B --json RESULT`, whole command. Returns (wall, ready or None, why)."""
    if os.path.exists(result):
        os.remove(result)
    start = time.monotonic()
    with open(log, "wb") as out:
        code = subprocess.run([ingot, "test", target, "--board", board, "--json", result], stdin=subprocess.DEVNULL,
                              stdout=out, stderr=subprocess.STDOUT).returncode
    wall = time.monotonic() - start
    ready = None
    try:
        with open(result) as f:
            doc = json.load(f)
        ready = stage_times(doc).get("ready") if doc.get("verdict", {}).get("passed") else None
    except (OSError, ValueError):
        pass
    why = None
    if code != 0 or ready is None:
        with open(log, "rb") as f:
            last = f.read().decode(errors="replace").strip().splitlines()[-3:]
        why = f"ingot test exited {code}: " + " / ".join(last)
    return wall, ready, why


def spread(values, fmt="{:.1f}"):
    if not values:
        return "-"
    return " / ".join(fmt.format(v) for v in (min(values), statistics.median(values), max(values)))


def load():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ingot", required=True, help="the ingot binary")
    ap.add_argument("--images", required=True, help="directory with hello-BOARD.img (+ manifests) from ingot build")
    ap.add_argument("--spec", default="examples/hello.yml")
    ap.add_argument("--out", default="out/bench-matrix", help="logs, JSON and matrix outputs")
    ap.add_argument("--runs", type=int, default=5, help="boots per side and board (at least 5)")
    ap.add_argument("--matrix-runs", type=int, default=3, help="whole-matrix runs (at least 3; 0 to leave out)")
    ap.add_argument("--timeout", type=float, default=300, help="seconds a hand run may take to the marker")
    ap.add_argument("boards", nargs="+")
    a = ap.parse_args()
    signal.signal(signal.SIGTERM, stop_and_exit)
    signal.signal(signal.SIGINT, stop_and_exit)
    if a.runs < 5:
        ap.error("--runs must be at least 5")
    if a.matrix_runs and a.matrix_runs < 3:
        ap.error("--matrix-runs must be at least 3 (or 0)")
    os.makedirs(f"{a.out}/logs", exist_ok=True)
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    print(f"matrix benchmark: {', '.join(a.boards)}; {a.runs} boots per side and board, alternating order")
    print(f"machine: {cpu}, {os.cpu_count()} cores, load average {load()} at the start (shared machine)")

    corrupt = "matrix" in os.environ.get("INGOT_BENCH_CORRUPT", "").split(",")
    targets = {b: f"{a.images}/hello-{b}" for b in a.boards}
    images = {b: f"{a.images}/hello-{b}.img" for b in a.boards}
    if corrupt:
        b = a.boards[0]
        bad = f"{a.out}/corrupt"
        os.makedirs(bad, exist_ok=True)
        for suffix in (".img", ".manifest.json"):
            shutil.copyfile(f"{a.images}/hello-{b}{suffix}", f"{bad}/hello-{b}{suffix}")
        with open(f"{bad}/hello-{b}.img", "r+b") as f:
            f.write(bytes(1 << 20))
        targets[b] = f"{bad}/hello-{b}"
        print(f"WARNING: INGOT_BENCH_CORRUPT=matrix: the Ingot side boots {targets[b]}.img with its first MiB "
              "zeroed; the checks must fail")

    samples = {b: {"ingot": [], "ingot_ready": [], "hand": [], "hand_marker": []} for b in a.boards}
    failures = []
    dead = set()
    for i in range(a.runs):
        for b in a.boards:
            if b in dead:
                continue
            order = ("ingot", "hand") if i % 2 == 0 else ("hand", "ingot")
            for side in order:
                log = f"{a.out}/logs/{b}-{side}-{i + 1}.log"
                if side == "ingot":
                    wall, ready, why = run_ingot(a.ingot, targets[b], b, log, f"{a.out}/logs/{b}-ingot-{i + 1}.json")
                    if why is None:
                        samples[b]["ingot"].append(wall)
                        samples[b]["ingot_ready"].append(ready)
                else:
                    wall, marker, why = run_hand(b, images[b], log, a.timeout)
                    if why is None:
                        samples[b]["hand"].append(wall)
                        samples[b]["hand_marker"].append(marker)
                if why is not None:
                    failures.append(f"{b} run {i + 1}, {side}: {why} (log {log})")
                    dead.add(b)  # a board that fails is not booted again: its figures are void
                    break
            print(f"  run {i + 1}/{a.runs} {b}: ingot {spread(samples[b]['ingot'][-1:])} s, "
                  f"hand {spread(samples[b]['hand'][-1:])} s", file=sys.stderr)

    matrix = []
    if a.matrix_runs:
        board_args = [x for b in a.boards for x in ("--board", b)]
        for i in range(a.matrix_runs):
            report = f"{a.out}/matrix-{i + 1}.json"
            start = time.monotonic()
            code = subprocess.run([a.ingot, "matrix", a.spec, *board_args, "--format", "raw", "--json", report,
                                   "-o", f"{a.out}/matrix", "-q"], stdin=subprocess.DEVNULL,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
            wall = time.monotonic() - start
            try:
                with open(report) as f:
                    doc = json.load(f)
                cells = doc.get("cells", doc if isinstance(doc, list) else [])
                bad = [f"{c['board']} {c.get('status')}" for c in cells if c.get("status") != "passed"]
                if len(cells) != len(a.boards):
                    bad.append(f"{len(cells)} cells for {len(a.boards)} boards")
            except (OSError, ValueError, KeyError) as e:
                bad = [f"no readable report ({e})"]
            if code != 0 or bad:
                failures.append(f"ingot matrix run {i + 1} exited {code}: {', '.join(bad) or 'see ' + report}")
            else:
                matrix.append(wall)
            print(f"  matrix run {i + 1}/{a.matrix_runs}: {wall:.1f} s", file=sys.stderr)

    print()
    header = ("board", "ingot test wall (s)", "by hand wall (s)", "overhead", "ingot: ready (s)", "hand: marker (s)")
    rows = []
    ingot_sum = hand_sum = 0.0
    for b in a.boards:
        s = samples[b]
        over = ""
        if s["ingot"] and s["hand"] and b not in dead:
            mi, mh = statistics.median(s["ingot"]), statistics.median(s["hand"])
            ingot_sum += mi
            hand_sum += mh
            over = f"{(mi - mh) / mh * 100:+.1f}%"
        rows.append((b, spread(s["ingot"]), spread(s["hand"]), over, spread(s["ingot_ready"]), spread(s["hand_marker"])))
    widths = [max(len(r[k]) for r in [header] + rows) for k in range(len(header))]
    line = lambda r: "  ".join(c.ljust(w) if k == 0 else c.rjust(w) for k, (c, w) in enumerate(zip(r, widths)))
    print("min / median / max; whole command on both sides (spawn to exit); overhead from the medians")
    print(line(header))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print(line(r))
    if matrix:
        print(f"whole matrix (ingot matrix, build + boot, parallel), {len(matrix)} runs: {spread(matrix)} s")

    print("checks (not timed):")
    total = a.runs * len(a.boards) * 2
    print(f"  every ingot test PASSed and every hand run reached the ready marker: "
          f"{'ok' if not [f for f in failures if 'matrix' not in f] else 'MISMATCH'} "
          f"({sum(len(samples[b]['ingot']) + len(samples[b]['hand']) for b in a.boards)} of {total} boots)")
    if a.matrix_runs:
        print(f"  every cell of every matrix run passed: "
              f"{'ok' if len(matrix) == a.matrix_runs else 'MISMATCH'} ({len(matrix)} of {a.matrix_runs} runs)")
    for f in failures:
        print(f"      {f}")
    checks = not failures

    print("targets:")
    missed = []

    def target(what, measured, bound, within):
        met = within and checks
        print(f"  {what}: {measured} (target {bound}): {'MET' if met else 'MISSED'}"
              + ("" if checks else " (a check it depends on failed)"))
        if not met:
            missed.append(what)

    if hand_sum:
        over = (ingot_sum - hand_sum) / hand_sum * 100
        target("harness overhead, ingot test vs by hand (sum of medians)", f"{over:+.1f}%", "<= 5%", over <= 5)
    else:
        target("harness overhead, ingot test vs by hand", "no figures", "<= 5%", False)
    if matrix:
        target("whole matrix, build + boot, parallel (median)", f"{statistics.median(matrix):.1f} s", "<= 60 s",
               statistics.median(matrix) <= 60)
    if "rpi3" in a.boards:
        r = samples["rpi3"]["ingot_ready"]
        target("rpi3 boot-to-ready under ingot test (median)", f"{statistics.median(r):.1f} s" if r else "no figure",
               "<= 20 s", bool(r) and statistics.median(r) <= 20)
    print(f"load average at the end: {load()}")
    with open(f"{a.out}/samples.json", "w") as f:
        json.dump({"boards": samples, "matrix": matrix, "failures": failures}, f, indent=1)
    if missed:
        print(f"matrix benchmark: MISSED: {'; '.join(missed)}")
    else:
        print("matrix benchmark: every target MET, every check passed")
    if not checks:
        print("matrix benchmark: a check FAILED; exiting with status 1")
        sys.exit(1)


if __name__ == "__main__":
    main()
