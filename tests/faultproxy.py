#!/usr/bin/env python3
"""faultproxy: an HTTP/1.1 fault-injection reverse proxy for end-to-end tests.

Python 3 standard library only (asyncio streams). It sits in front of a real
server (nginx in the tests) and relays requests and responses byte for byte,
except when a configured fault says otherwise.

Usage:
    python3 faultproxy.py --upstream 127.0.0.1:PORT --listen-port-file F
                          [--control-port-file G] [--listen-port N] [-v]

The proxy listens on 127.0.0.1 (port N, default: any free port) and writes the
port it got to F once it accepts connections. With --control-port-file it also
opens a second port that serves ONLY the control API, and writes it to G.

Control API: served on the control port AND on the proxy port under /_fault/
(any path starting with /_fault/ is never forwarded). Replies are JSON.

    POST /_fault/set?KEY=VALUE&...   add one rule (returns it, with an id)
    POST /_fault/clear               remove all rules
    POST /_fault/clear?stats=1       remove all rules and zero the statistics
    GET  /_fault/rules               list the rules still armed
    GET  /_fault/stats               {"requests": N, "bytes_sent": N,
                                      "range_requests": N,
                                      "per_path": {PATH: {"requests", "bytes"}}}

Rule keys (integers; a rule may combine several of them):
    delay=MS          wait MS milliseconds before sending the response head
    rate=BYTES_PER_S  throttle the response body
    cut_after=N       close the connection (FIN) after N body bytes
    reset_after=N     reset the connection (SO_LINGER 0, RST) after N body bytes
    stall_after=N     stop sending after N body bytes; keep the connection open
                      until the client closes it (or the proxy is stopped)
    flip_byte=OFF     invert (XOR 0xff) the body byte at offset OFF of the response
    status=CODE       answer CODE with an empty body, upstream is not contacted;
    retry_after=S       ... with a "Retry-After: S" header
    strip_range=1     drop Range/If-Range from the request and Accept-Ranges from
                      the response: the server looks like one without ranges
    etag_churn=1      give every response a new ETag (and no Last-Modified): a
                      server whose file seems to change on every request
    total_churn=1     a 206's Content-Range total grows by one on every request:
                      a server that lies about the file's size
    count=K           apply to the next K matching requests (default 1, -1 = always)
    path=SUBSTRING    only requests whose target contains SUBSTRING match
                      (default: every request)

Each proxied request takes the FIRST armed rule that matches its target; the
rule's count goes down by one and it disappears when the count reaches zero.
So "set status=503" then "set cut_after=100" means: first request 503, second
one cut. Body offsets count the bytes of the response body
(for a 206 they are relative to the range; for a chunked body they count the
payload only, the chunk framing passes untouched). cut/reset/stall fire only
when the body is longer than N.

Statistics count client requests that were proxied (or answered by a status
fault), the response body bytes actually relayed to clients, and requests that
carried a Range header (counted before strip_range).

Limits: request bodies must have a Content-Length (no chunked uploads); the
request head may be at most 64 KiB. SIGTERM/SIGINT close every connection and
exit with status 0.
"""

import argparse
import asyncio
import http
import json
import os
import signal
import socket
import struct
import sys
import time
from urllib.parse import parse_qsl, urlsplit

HEAD_LIMIT = 64 * 1024
CHUNK = 64 * 1024
INT_KEYS = ("delay", "rate", "cut_after", "reset_after", "stall_after",
            "flip_byte", "status", "retry_after", "strip_range", "etag_churn", "total_churn",
            "count")
VERBOSE = False


def log(msg):
    if VERBOSE:
        print(f"faultproxy: {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- HTTP heads

def parse_head(raw):
    """b"LINE\\r\\nName: value\\r\\n...\\r\\n\\r\\n" -> (first line, [(name, value)])."""
    lines = raw.decode("latin-1").split("\r\n")
    headers = []
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers.append((name.strip(), value.strip()))
    return lines[0], headers


def header(headers, name):
    """Last value of header `name` (case-insensitive), or None."""
    found = None
    for k, v in headers:
        if k.lower() == name:
            found = v
    return found


def without(headers, *names):
    return [(k, v) for k, v in headers if k.lower() not in names]


def build_head(first, headers):
    return (first + "\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers)
            + "\r\n").encode("latin-1")


def wants_close(version, headers):
    conn = (header(headers, "connection") or "").lower()
    if version == "HTTP/1.0":
        return "keep-alive" not in conn
    return "close" in conn


# ------------------------------------------------------------ rules and stats

class Rule:
    _next_id = 1

    def __init__(self, params):
        self.id = Rule._next_id
        Rule._next_id += 1
        self.path = params.pop("path", "")
        self.f = {}
        for key, value in params.items():
            if key not in INT_KEYS:
                raise ValueError(f"unknown key {key!r}")
            try:
                self.f[key] = int(value)
            except ValueError:
                raise ValueError(f"{key} must be an integer, not {value!r}")
        self.count = self.f.pop("count", 1)
        if self.count == 0 or self.count < -1:
            raise ValueError("count must be positive or -1")
        if not self.f:
            raise ValueError("a rule needs at least one fault")

    def json(self):
        return {"id": self.id, "path": self.path, "count": self.count, **self.f}


class State:
    def __init__(self, upstream):
        self.upstream = upstream
        self.rules = []
        self.tasks = set()
        self.clear_stats()

    def clear_stats(self):
        self.requests = self.bytes_sent = self.range_requests = 0
        self.churn = 0  # responses changed by etag_churn / total_churn
        self.per_path = {}

    def take_rule(self, target):
        """The first armed rule matching `target`, consuming one use of it."""
        for rule in self.rules:
            if rule.path in target:
                if rule.count > 0:
                    rule.count -= 1
                    if rule.count == 0:
                        self.rules.remove(rule)
                return rule
        return None

    def count_request(self, target, has_range):
        self.requests += 1
        self.range_requests += has_range
        path = urlsplit(target).path
        self.per_path.setdefault(path, {"requests": 0, "bytes": 0})["requests"] += 1
        return self.per_path[path]

    def stats(self):
        return {"requests": self.requests, "bytes_sent": self.bytes_sent,
                "range_requests": self.range_requests, "per_path": self.per_path}


# ------------------------------------------------------------ body relaying

class BodyOut:
    """Writes one response body to the client, applying the body faults."""

    def __init__(self, state, path_stats, writer, f):
        self.state, self.path_stats, self.w, self.f = state, path_stats, writer, f
        self.off = 0              # body bytes sent so far
        self.t0 = time.monotonic()
        limits = [(f[k], k) for k in ("cut_after", "reset_after", "stall_after") if k in f]
        self.limit, self.action = min(limits) if limits else (None, None)
        self.fired = None         # the action that ended the body, if any

    async def send(self, data):
        """Relays `data`; returns False once a fault ended the body."""
        flip = self.f.get("flip_byte")
        if flip is not None and self.off <= flip < self.off + len(data):
            data = bytearray(data)
            data[flip - self.off] ^= 0xFF
        if self.limit is not None and self.off + len(data) > self.limit:
            data = data[:self.limit - self.off]
            self.fired = self.action
        rate = self.f.get("rate")
        step = max(1, min(CHUNK, rate // 10)) if rate else len(data)
        for i in range(0, len(data), step):
            piece = data[i:i + step]
            self.w.write(piece)
            await self.w.drain()
            self.off += len(piece)
            self.state.bytes_sent += len(piece)
            self.path_stats["bytes"] += len(piece)
            if rate:  # sleep until the average rate is back under the limit
                ahead = self.off / rate - (time.monotonic() - self.t0)
                if ahead > 0:
                    await asyncio.sleep(ahead)
        return self.fired is None


async def relay_body(ureader, out, kind, length):
    """Copies a body of `kind` ("length", "chunked" or "eof") from upstream.
    Returns False when a fault stopped it part-way."""
    if kind == "length":
        left = length
        if left and out.limit == 0:  # a zero limit fires before any byte
            out.fired = out.action
            return False
        while left:
            data = await ureader.read(min(CHUNK, left))
            if not data:
                raise ConnectionError("upstream closed mid-body")
            left -= len(data)
            if not await out.send(data):
                return False
        return True
    if kind == "eof":
        while data := await ureader.read(CHUNK):
            if not await out.send(data):
                return False
        return True
    while True:  # chunked: framing passes untouched, faults see the payload only
        line = await ureader.readuntil(b"\r\n")
        size = int(line.split(b";")[0], 16)
        if size == 0:  # last chunk, trailers, then an empty line
            while line != b"\r\n":
                out.w.write(line)
                line = await ureader.readuntil(b"\r\n")
            out.w.write(line)
            return True
        out.w.write(line)
        if not await out.send(await ureader.readexactly(size)):
            return False
        out.w.write(await ureader.readexactly(2))


async def finish_fault(action, creader, cwriter):
    """Carries out cut/reset/stall once the body has been sent up to the limit."""
    if action == "reset_after":
        cwriter.transport.set_write_buffer_limits(0)  # flush what was promised
        await cwriter.drain()
        sock = cwriter.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        cwriter.transport.abort()
    elif action == "stall_after":
        await cwriter.drain()
        try:  # hold the connection until the client gives up
            while await creader.read(CHUNK):
                pass
        except ConnectionError:
            pass


# ------------------------------------------------------------- one connection

class Upstream:
    """The client connection's own keep-alive connection to the upstream."""

    def __init__(self, addr):
        self.addr, self.reader, self.writer = addr, None, None

    async def exchange(self, head, body):
        """Sends a request; returns (raw response head, reader). Retries once on
        a reused connection that the server closed while it was idle."""
        for attempt in (0, 1):
            reused = self.writer is not None
            if not reused:
                self.reader, self.writer = await asyncio.open_connection(
                    *self.addr, limit=HEAD_LIMIT)
            try:
                self.writer.write(head + body)
                await self.writer.drain()
                return await self.reader.readuntil(b"\r\n\r\n"), self.reader
            except (ConnectionError, asyncio.IncompleteReadError):
                self.close()
                if not reused or attempt:
                    raise

    def close(self):
        if self.writer is not None:
            self.writer.transport.abort()
        self.reader = self.writer = None


async def reply(cwriter, code, body=b"", extra=(), ctype="application/json"):
    try:
        reason = http.HTTPStatus(code).phrase
    except ValueError:
        reason = "Fault"
    headers = [("Content-Type", ctype), ("Content-Length", str(len(body))), *extra]
    cwriter.write(build_head(f"HTTP/1.1 {code} {reason}", headers) + body)
    await cwriter.drain()


async def control(state, cwriter, target):
    url = urlsplit(target)
    cmd = url.path[len("/_fault/"):].strip("/")
    params = dict(parse_qsl(url.query, keep_blank_values=True))
    code, result = 200, None
    if cmd == "set":
        try:
            rule = Rule(params)
            state.rules.append(rule)
            result = {"ok": True, "rule": rule.json()}
            log(f"rule {rule.json()}")
        except ValueError as e:
            code, result = 400, {"ok": False, "error": str(e)}
    elif cmd == "clear":
        state.rules.clear()
        if params.get("stats") == "1":
            state.clear_stats()
        result = {"ok": True}
    elif cmd == "rules":
        result = [r.json() for r in state.rules]
    elif cmd == "stats":
        result = state.stats()
    else:
        code, result = 404, {"ok": False, "error": f"no control command {cmd!r}"}
    await reply(cwriter, code, json.dumps(result).encode() + b"\n")


async def proxy_one(state, up, creader, cwriter, head, method, target, version, headers, body):
    """Serves one request; returns True when the client connection may be reused."""
    has_range = header(headers, "range") is not None
    path_stats = state.count_request(target, has_range)
    rule = state.take_rule(target)
    f = rule.f if rule else {}
    if rule:
        log(f"{method} {target}: rule {rule.id} {f}")
    client_close = wants_close(version, headers)
    if f.get("strip_range"):  # otherwise the request head goes out byte for byte
        headers = without(headers, "range", "if-range")
        head = build_head(f"{method} {target} {version}", headers)

    if "status" in f:  # synthetic answer, upstream untouched
        await asyncio.sleep(f.get("delay", 0) / 1000)
        extra = [("Retry-After", str(f["retry_after"]))] if "retry_after" in f else []
        if client_close:
            extra.append(("Connection", "close"))
        await reply(cwriter, f["status"], extra=extra, ctype="text/plain")
        return not client_close

    try:
        rhead, ureader = await up.exchange(head, body)
        while True:
            first, rheaders = parse_head(rhead)
            code = int(first.split(" ", 2)[1])
            if not (100 <= code < 200 and code != 101):
                break
            cwriter.write(rhead)  # interim response (100 Continue): pass it on
            rhead = await ureader.readuntil(b"\r\n\r\n")
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as e:
        up.close()
        await reply(cwriter, 502, f"upstream: {e}\n".encode(), [("Connection", "close")], "text/plain")
        return False

    if f.get("strip_range"):
        rheaders = without(rheaders, "accept-ranges")
        rhead = build_head(first, rheaders)
    if f.get("etag_churn") or f.get("total_churn"):
        state.churn += 1
        if f.get("etag_churn"):
            rheaders = without(rheaders, "etag", "last-modified") + [
                ("ETag", f'"churn-{state.churn}"')]
        cr = header(rheaders, "content-range")
        if f.get("total_churn") and cr and "/" in cr and not cr.endswith("/*"):
            span, _, total = cr.rpartition("/")
            rheaders = without(rheaders, "content-range") + [
                ("Content-Range", f"{span}/{int(total) + state.churn}")]
        rhead = build_head(first, rheaders)
    te = (header(rheaders, "transfer-encoding") or "").lower()
    if method == "HEAD" or code in (204, 304):
        kind, length = "length", 0
    elif "chunked" in te:
        kind, length = "chunked", None
    elif header(rheaders, "content-length") is not None:
        kind, length = "length", int(header(rheaders, "content-length"))
    else:
        kind, length = "eof", None
    upstream_close = kind == "eof" or wants_close(first.split(" ", 1)[0], rheaders)

    await asyncio.sleep(f.get("delay", 0) / 1000)
    cwriter.write(rhead)
    out = BodyOut(state, path_stats, cwriter, f)
    try:
        complete = await relay_body(ureader, out, kind, length)
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
        up.close()  # upstream broke mid-body: the client sees a short body
        return False
    if not complete:
        up.close()  # the unread rest of the body makes this connection useless
        await finish_fault(out.fired, creader, cwriter)
        return False
    if upstream_close:
        up.close()
    await cwriter.drain()
    return not (client_close or upstream_close)


async def handle_client(state, creader, cwriter, control_only=False):
    task = asyncio.current_task()
    state.tasks.add(task)
    up = Upstream(state.upstream)
    try:
        while True:
            try:
                raw = await creader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                return  # client went away between requests
            except asyncio.LimitOverrunError:
                await reply(cwriter, 431, b"request head too large\n", ctype="text/plain")
                return
            first, headers = parse_head(raw)
            try:
                method, target, version = first.split(" ", 2)
                n = int(header(headers, "content-length") or 0)
                body = await creader.readexactly(n) if n else b""
            except (ValueError, asyncio.IncompleteReadError):
                await reply(cwriter, 400, b"bad request\n", ctype="text/plain")
                return
            if target.startswith("/_fault/"):
                await control(state, cwriter, target)
                if wants_close(version, headers):
                    return
            elif control_only:
                await reply(cwriter, 404, b"control port: only /_fault/ paths\n", ctype="text/plain")
            elif not await proxy_one(state, up, creader, cwriter, raw, method, target, version,
                                     headers, body):
                return
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        up.close()
        cwriter.transport.abort()
        state.tasks.discard(task)


# -------------------------------------------------------------------- main

def write_port_file(path, port):
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as fh:
        fh.write(f"{port}\n")
    os.replace(tmp, path)  # readers never see a half-written file


async def main():
    global VERBOSE
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--upstream", required=True, help="HOST:PORT of the real server")
    ap.add_argument("--listen-port-file", required=True)
    ap.add_argument("--listen-port", type=int, default=0)
    ap.add_argument("--control-port-file")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    VERBOSE = args.verbose
    host, _, port = args.upstream.rpartition(":")
    state = State((host or "127.0.0.1", int(port)))

    servers = [await asyncio.start_server(lambda r, w: handle_client(state, r, w),
                                          "127.0.0.1", args.listen_port, limit=HEAD_LIMIT)]
    if args.control_port_file:
        servers.append(await asyncio.start_server(
            lambda r, w: handle_client(state, r, w, control_only=True),
            "127.0.0.1", 0, limit=HEAD_LIMIT))
        write_port_file(args.control_port_file, servers[1].sockets[0].getsockname()[1])
    write_port_file(args.listen_port_file, servers[0].sockets[0].getsockname()[1])
    log(f"listening on {servers[0].sockets[0].getsockname()[1]}, upstream {args.upstream}")

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()

    for server in servers:  # stop accepting, then end every connection
        server.close()
    for task in list(state.tasks):
        task.cancel()
    await asyncio.gather(*state.tasks, return_exceptions=True)
    for server in servers:
        await server.wait_closed()


if __name__ == "__main__":
    asyncio.run(main())
