#!/usr/bin/env python3
"""How long this machine's CPUs stop running a busy thread, quiet and under disk syncs.

One process per CPU, pinned to it, reads the monotonic clock in a tight loop and counts
every gap between two reads longer than 20 us: the time the CPU ran something else, or
did not run at all (a VM's vCPU the hypervisor held back). A first phase measures the
machine as it is; a second runs a writer beside it that appends PAGES pages of 4 KiB to
a file and calls fdatasync HZ times a second. The default, 2,560 pages a second, is of
the order of the gateway's log writer at one connection (about 4,300 page writes and 5
fdatasyncs a second); the syncs come in more, smaller pieces than its checkpoints.

A closed-loop client at one connection sees every stall of a millisecond or more that
lands on a request in flight, so when the second phase shows tens of such stalls a
second more than the first, the one-connection p99 of anything that writes to disk
(the gateway's request log) measures the machine's disk, not the program. See
docs/performance.md.

usage: python3 bench/vm_stalls.py [--seconds S] [--pages PAGES] [--hz HZ] [--dir DIR]
"""

import argparse
import multiprocessing as mp
import os
import tempfile
import time

BOUNDS_NS = [20_000, 100_000, 300_000, 1_000_000, 3_000_000]
LABELS = ["20-100us", "100-300us", "0.3-1ms", "1-3ms", ">=3ms"]


def spin(cpu: int, seconds: float, out: "mp.Queue") -> None:
    os.sched_setaffinity(0, {cpu})
    clock = time.perf_counter_ns
    counts = [0] * len(BOUNDS_NS)
    stalled = 0
    end = clock() + int(seconds * 1e9)
    last = clock()
    while last < end:
        now = clock()
        gap = now - last
        last = now
        if gap >= BOUNDS_NS[0]:
            stalled += gap
            bucket = len(BOUNDS_NS) - 1
            while gap < BOUNDS_NS[bucket]:
                bucket -= 1
            counts[bucket] += 1
    out.put((cpu, counts, stalled))


def sync_writer(path: str, pages: int, hz: float) -> None:
    block = b"x" * 4096
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    offset = 0
    while True:
        for _ in range(pages):
            os.pwrite(fd, block, offset)
            offset = (offset + 4096) % (256 << 20)
        os.fdatasync(fd)
        time.sleep(1 / hz)


def phase(title: str, seconds: float, cpus: list[int]) -> int:
    out: "mp.Queue" = mp.Queue()
    workers = [mp.Process(target=spin, args=(cpu, seconds, out)) for cpu in cpus]
    for w in workers:
        w.start()
    results = sorted(out.get() for _ in workers)
    for w in workers:
        w.join()
    long_stalls = 0
    print(f"{title}:")
    for cpu, counts, stalled in results:
        cells = "  ".join(f"{label} {n:6d}" for label, n in zip(LABELS, counts))
        print(f"  cpu{cpu:<3} {cells}  stalled {stalled / 1e6:8.1f} ms")
        long_stalls += counts[3] + counts[4]
    print(f"  stalls of 1 ms or more: {long_stalls / seconds:.1f} a second, all CPUs")
    return long_stalls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10, help="length of each phase (10)")
    parser.add_argument("--pages", type=int, default=64, help="4 KiB pages written per sync (64)")
    parser.add_argument("--hz", type=float, default=40, help="syncs a second (40)")
    parser.add_argument("--dir", default=os.environ.get("TMPDIR", "/tmp"),
                        help="where the synced file goes: the filesystem the gateway's database is on")
    args = parser.parse_args()
    if args.seconds <= 0 or args.pages < 0 or args.hz <= 0:
        parser.error("--seconds and --hz must be positive, --pages not negative")

    cpus = sorted(os.sched_getaffinity(0))
    quiet = phase("quiet", args.seconds, cpus)
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="vm-stalls.") as tmp:
        writer = mp.Process(target=sync_writer, args=(os.path.join(tmp, "synced"), args.pages, args.hz), daemon=True)
        writer.start()
        try:
            loaded = phase(f"{args.pages} pages and an fdatasync, {args.hz:g} times a second, in {args.dir}",
                           args.seconds, cpus)
        finally:
            writer.terminate()
            writer.join()
    print(f"stalls of 1 ms or more a second: {quiet / args.seconds:.1f} quiet, {loaded / args.seconds:.1f} with syncs")


if __name__ == "__main__":
    main()
