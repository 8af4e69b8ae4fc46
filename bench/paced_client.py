#!/usr/bin/env python3
"""Paced-stream client for bench/run.sh: time to first SSE event and event spacing.

Sends N streaming chat requests one after another over one keep-alive connection
(reconnecting if the server closes it) and records, for every stream, when each SSE
event arrived and in which socket read. The upstream behind every target sends one
event every 10 ms, so a hop that forwards events as they come keeps them ~10 ms apart,
one event per read; a hop that buffers delivers several events in one read (gap ~0).

Only the standard library: a raw socket, HTTP/1.1 with Content-Length or chunked
responses, TCP_NODELAY, time.perf_counter_ns().

Usage:
    paced_client.py --url URL --body JSON [--header 'Name: value']... [--streams N]
                    [--warmup N] [--timeout SECONDS] --out FILE.json

Writes FILE.json (read by `report.py summary --paced ...`) and prints a one-line summary.
Every request is complete when the client moves on (the whole stream was read), so
"requests" in the JSON is exact (warm-up streams included); "errors" counts streams
that failed (bad status, timeout, no [DONE]).
"""

import argparse
import json
import socket
import statistics
import sys
import time
import urllib.parse


class HTTPError(Exception):
    pass


class Connection:
    def __init__(self, host, port, timeout):
        self.host, self.port, self.timeout = host, port, timeout
        self.sock = None
        self.pending = b""  # bytes read past the end of the previous response

    def ensure(self):
        if self.sock is None:
            self.sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.pending = b""

    def close(self):
        if self.sock is not None:
            try:
                self.sock.close()
            finally:
                self.sock = None


class ChunkedDecoder:
    """Incremental Transfer-Encoding: chunked decoder."""

    def __init__(self):
        self.buf = b""
        self.state = "size"  # size -> data -> crlf -> size ... -> trailer -> done
        self.left = 0
        self.rest = b""  # bytes after the end of the body (start of a next response)

    @property
    def done(self):
        return self.state == "done"

    def feed(self, data):
        self.buf += data
        out = []
        while self.state != "done":
            if self.state == "size":
                eol = self.buf.find(b"\r\n")
                if eol < 0:
                    break
                self.left = int(self.buf[:eol].split(b";")[0].strip(), 16)
                self.buf = self.buf[eol + 2:]
                self.state = "data" if self.left else "trailer"
            elif self.state == "data":
                if not self.buf:
                    break
                take = self.buf[: self.left]
                out.append(take)
                self.buf = self.buf[len(take):]
                self.left -= len(take)
                if self.left == 0:
                    self.state = "crlf"
            elif self.state == "crlf":
                if len(self.buf) < 2:
                    break
                if self.buf[:2] != b"\r\n":
                    raise HTTPError("bad chunk framing")
                self.buf = self.buf[2:]
                self.state = "size"
            elif self.state == "trailer":
                eol = self.buf.find(b"\r\n")
                if eol < 0:
                    break
                line, self.buf = self.buf[:eol], self.buf[eol + 2:]
                if not line:
                    self.state, self.rest, self.buf = "done", self.buf, b""
        return b"".join(out)


def split_events(buf):
    """Complete SSE events in buf (separated by a blank line) and the unparsed rest."""
    buf = buf.replace(b"\r\n", b"\n")
    events = []
    while (i := buf.find(b"\n\n")) >= 0:
        events.append(buf[:i])
        buf = buf[i + 2:]
    return events, buf


def is_data_event(event):
    return any(line.startswith(b"data:") for line in event.split(b"\n"))


def one_stream(conn, path, body, headers, timeout):
    """Send one request and read the whole streamed response. Returns a result dict."""
    conn.ensure()
    head = [f"POST {path} HTTP/1.1", f"Host: {conn.host}:{conn.port}", f"Content-Length: {len(body)}", *headers]
    request = ("\r\n".join(head) + "\r\n\r\n").encode() + body
    sock = conn.sock
    deadline = time.monotonic() + timeout

    def recv():
        if time.monotonic() > deadline:
            raise HTTPError("timeout")
        return sock.recv(65536)

    t0 = time.perf_counter_ns()
    sock.sendall(request)

    # Status line and headers.
    buf, conn.pending = conn.pending, b""
    while (end := buf.find(b"\r\n\r\n")) < 0:
        data = recv()
        if not data:
            raise HTTPError("connection closed before the response headers")
        buf += data
    headers_at = time.perf_counter_ns() - t0
    lines = buf[:end].decode("latin-1").split("\r\n")
    version, status = lines[0].split(" ", 2)[:2]
    status = int(status)
    hdrs = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        hdrs[name.strip().lower()] = value.strip()
    chunked = "chunked" in hdrs.get("transfer-encoding", "").lower()
    length = None if chunked or "content-length" not in hdrs else int(hdrs["content-length"])
    keep_alive = (chunked or length is not None) and hdrs.get("connection", "").lower() != "close" \
        and version != "HTTP/1.0"
    decoder = ChunkedDecoder() if chunked else None

    times = []  # ns since the request was sent, one per data event
    last = b""
    reads_with_events = []  # events completed per socket read (reads that completed any)
    sse = b""
    got = 0

    def take(data, now):
        """Feed body bytes; returns (finished, bytes past the body)."""
        nonlocal sse, got, last
        if decoder is not None:
            payload = decoder.feed(data)
            finished, extra = decoder.done, decoder.rest if decoder.done else b""
        elif length is not None:
            payload, extra = data[: length - got], data[length - got:]
            got += len(payload)
            finished = got >= length
        else:
            payload, extra, finished = data, b"", False
        sse += payload
        complete, sse = split_events(sse)
        complete = [e for e in complete if is_data_event(e)]
        if complete:
            times.extend([now] * len(complete))
            reads_with_events.append(len(complete))
            last = complete[-1]
        return finished, extra

    finished, extra = take(buf[end + 4:], headers_at)
    while not finished:
        data = recv()
        now = time.perf_counter_ns() - t0
        if not data:
            if decoder is None and length is None:
                break  # close-delimited body
            raise HTTPError("connection closed mid-response")
        finished, extra = take(data, now)
    conn.pending = extra
    if not keep_alive:
        conn.close()
    done = last.strip() == b"data: [DONE]"
    return {
        "status": status,
        "ok": status == 200 and done,
        "headers_ms": headers_at / 1e6,
        "first_event_ms": times[0] / 1e6 if times else None,
        "last_event_ms": times[-1] / 1e6 if times else None,
        "events": len(times),
        "gaps_ms": [round((b - a) / 1e6, 4) for a, b in zip(times, times[1:])],
        "reads_with_events": reads_with_events,
    }


def pct(values, p):
    if not values:
        return None
    s = sorted(values)
    k = max(0, min(len(s) - 1, round(p / 100 * (len(s) - 1))))
    return s[k]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", required=True)
    ap.add_argument("--body", required=True)
    ap.add_argument("--header", action="append", default=[])
    ap.add_argument("--streams", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=1, help="streams first, not in the stats")
    ap.add_argument("--timeout", type=float, default=10.0)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    url = urllib.parse.urlsplit(args.url)
    path = url.path + (f"?{url.query}" if url.query else "")
    conn = Connection(url.hostname, url.port or 80, args.timeout)
    body = args.body.encode()
    headers = args.header + ["Content-Type: application/json", "Accept: text/event-stream"]
    streams, errors, requests = [], [], 0
    for i in range(args.warmup + args.streams):
        try:
            result = one_stream(conn, path, body, headers, args.timeout)
        except (OSError, HTTPError, ValueError, IndexError) as exc:
            conn.close()
            errors.append(f"{type(exc).__name__}: {exc}")
            continue
        requests += 1
        if not result["ok"]:
            errors.append(f"status {result['status']}, {result['events']} events, no [DONE]" if result["status"] == 200
                          else f"status {result['status']}")
        if i >= args.warmup:
            streams.append(result)
    conn.close()

    with open(args.out, "w") as f:
        json.dump({"url": args.url, "requests": requests, "errors": errors, "streams": streams}, f)

    ok = [s for s in streams if s["ok"]]
    first = [s["first_event_ms"] for s in ok]
    gaps = [g for s in ok for g in s["gaps_ms"]]
    multi = sum(1 for s in ok for n in s["reads_with_events"] if n > 1)
    if first:
        print(f"{len(ok)} streams, {statistics.mean(s['events'] for s in ok):.0f} events each, "
              f"first event p50 {pct(first, 50):.3f}ms p99 {pct(first, 99):.3f}ms, "
              f"gap p50 {pct(gaps, 50) or 0:.2f}ms min {min(gaps, default=0):.2f}ms, "
              f"reads with >1 event {multi}, errors {len(errors)}")
    else:
        print(f"no successful stream; errors {len(errors)}: {errors[:1]}")


if __name__ == "__main__":
    sys.exit(main())
