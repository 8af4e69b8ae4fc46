#!/usr/bin/env bash
# The largest async contexts (frames) in an orchestratord binary: what each async
# function asks its task's stack allocator for when it is called. Each async function
# has an "async function pointer" record (symbols ending in `Tu`): a relative pointer to
# the function, then the context size as a 32-bit word. A request's task holds the
# contexts of every async call it is inside at once (see Sources/HTTPFront/DataPlane/
# TaskStack.swift).
#
#   bash bench/async_frames.sh BINARY [TOP] [PATTERN]
#
# Prints the TOP (default 30) largest contexts whose demangled names match the
# extended regular expression PATTERN (default: the request path's types). Needs nm,
# readelf, python3 and swift-demangle (the toolchain's `swift demangle`).
set -euo pipefail
BIN="$(realpath "${1:?usage: async_frames.sh BINARY [TOP] [PATTERN]}")"
TOP="${2:-30}"
PATTERN="${3:-GatewayEngine|ChatEndpoint|DataPlane|ResponseSink|Adapter|Transport|StreamOpening|EventPump|SSETranslation|RequestLogWriter|ChatRoutes}"
python3 - "$BIN" "$TOP" "$PATTERN" <<'PY'
import re, struct, subprocess, sys

binary, top, pattern = sys.argv[1], int(sys.argv[2]), re.compile(sys.argv[3])
symbols = []
for line in subprocess.run(["nm", binary], capture_output=True, text=True, check=True).stdout.splitlines():
    parts = line.split()
    if len(parts) == 3 and parts[2].endswith("Tu"):
        symbols.append((int(parts[0], 16), parts[2]))
if not symbols:
    sys.exit("no async function pointer symbols: is the binary stripped?")
# Virtual address -> file offset, from the loadable segments.
segments = []
for line in subprocess.run(["readelf", "-lW", binary], capture_output=True, text=True, check=True).stdout.splitlines():
    fields = line.split()
    if fields and fields[0] == "LOAD":
        offset, vaddr, filesz = int(fields[1], 16), int(fields[2], 16), int(fields[4], 16)
        segments.append((vaddr, filesz, offset))
with open(binary, "rb") as f:
    data = f.read()
sizes = []
for vaddr, name in symbols:
    for start, length, offset in segments:
        if start <= vaddr < start + length:
            at = offset + vaddr - start
            _, size = struct.unpack("<iI", data[at:at + 8])
            sizes.append((size, name))
            break
names = [name for _, name in sizes]
demangled = subprocess.run(
    ["swift", "demangle", "--simplified"], input="\n".join(names), capture_output=True, text=True, check=True
).stdout.splitlines()
rows = sorted(
    ((size, text.removeprefix("async function pointer to ")) for (size, _), text in zip(sizes, demangled)),
    reverse=True)
shown = 0
for size, text in rows:
    if pattern.search(text):
        print(f"{size:8d}  {text[:160]}")
        shown += 1
        if shown == top:
            break
PY
