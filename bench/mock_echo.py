#!/usr/bin/env python3
"""Print nginx echo-module directives that replay a canned body slowly (bench/run.sh).

    mock_echo.py delay FILE SECONDS   wait SECONDS, then send FILE (one chat.completion)
    mock_echo.py paced FILE SECONDS   send FILE's SSE events one by one, flushing each,
                                      SECONDS apart (the first one at once)

The output goes inside a `location { }` of the mock upstream's nginx.conf; it needs
`load_module .../ngx_http_echo_module.so` (Debian: libnginx-mod-http-echo). Bodies are
written as single-quoted nginx strings (nginx turns \\n, \\' and \\\\ back into bytes),
one event per directive, so no token comes near nginx's 4 KB limit. The echo module
expands `$name` in its arguments, so a body with a `$` is refused.
"""

import sys


def quoted(text):
    if "$" in text:
        sys.exit(f"mock_echo.py: '$' in a canned body would be read as an nginx variable: {text[:80]!r}")
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n") + "'"


def main(argv):
    if len(argv) != 4 or argv[1] not in ("delay", "paced"):
        sys.exit(__doc__)
    mode, path, seconds = argv[1], argv[2], argv[3]
    float(seconds)  # validates
    with open(path) as f:
        body = f.read()
    out = []
    if mode == "delay":
        out.append(f"echo_sleep {seconds};")
        out.append(f"echo -n {quoted(body)};")
    else:
        events = [e + "\n\n" for e in body.split("\n\n") if e.strip()]
        for i, event in enumerate(events):
            if i:
                out.append(f"echo_sleep {seconds};")
            out.append(f"echo -n {quoted(event)};")
            out.append("echo_flush;")
    print("\n".join(out))


if __name__ == "__main__":
    main(sys.argv)
