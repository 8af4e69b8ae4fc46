#!/usr/bin/env bash
# Builds the release binary the way it is deployed and benchmarked, and prints its path.
#
# - `--static-swift-stdlib`: the Swift libraries (stdlib, Concurrency, Foundation with
#   its ICU data, Dispatch) are linked in, so the binary needs no Swift runtime and only
#   the code the gateway uses is mapped.
# - The toolchain's lld with `-z pack-relative-relocs` (DT_RELR): the position-independent
#   binary's ≈ 135,000 relative relocations take 26 KB instead of 3.1 MB, which the
#   dynamic loader read at every start, keeping ≈ 3.5 MiB resident for nothing
#   (docs/performance.md). Needs glibc ≥ 2.36 where the binary runs (Debian 12, Ubuntu
#   22.10 and later); an older loader refuses it with a clear "GLIBC_ABI_DT_RELR" error.
#   Set ORCH_PLAIN_LINK=1 to link without it.
# - `--no-export-dynamic`: an executable's symbols are exported by default (43,000 of
#   them, 3.6 MB of symbol table and names). Nothing looks them up by name, but the
#   dynamic loader searches the executable first for every symbol the shared libraries
#   (libc, SQLite, OpenSSL) need, which kept about 2.9 MB of those tables resident at
#   idle; and the linker could not drop exported code that nothing calls (0.6 MB of
#   text). Crash backtraces read the binary's own symbol table, which stays.
# - `-enforce-exclusivity=unchecked`: no run-time checks of Swift's exclusive-access rule
#   in any module (SwiftNIO's included). Each check is a call that records the access in
#   a thread-local list and removes it after; a chat request made 136 of them, about
#   9,600 instructions of its 234,000 (`bench/instructions_per_request.sh`,
#   docs/performance.md). The compiler's static checks stay, and the debug build the
#   tests run keeps the run-time ones, so a violation still fails the suite. Set
#   ORCH_EXCLUSIVITY_CHECKS=1 to keep them in the release binary too.
# Extra arguments go to `swift build`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

flags=(-c release --product orchestratord --static-swift-stdlib -Xlinker --no-export-dynamic)
if [ "${ORCH_PLAIN_LINK:-0}" != 1 ]; then
    flags+=(-Xswiftc -use-ld=lld -Xlinker -z -Xlinker pack-relative-relocs)
fi
if [ "${ORCH_EXCLUSIVITY_CHECKS:-0}" != 1 ]; then
    flags+=(-Xswiftc -enforce-exclusivity=unchecked)
fi
swift build "${flags[@]}" "$@" >&2
echo "$(swift build -c release --show-bin-path "$@")/orchestratord"
