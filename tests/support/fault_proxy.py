#!/usr/bin/python3
"""A fault-injecting HTTP proxy for S3 tests (stdlib only, loopback only).

It forwards every request to an upstream S3 API (moto_server) and, for a fraction `rate` of
requests, injects one of these faults, as real S3 and the networks in front of it do:
  503    503 SlowDown, the request is not forwarded
  500    500 InternalError, the request is not forwarded
  drop   the request is forwarded (it takes effect), then the connection is cut in the middle
         of the response body (before the status line when the body is empty)
  slow   the request is forwarded, the response starts, then stalls for `stall_seconds`
         (longer than the client's stall timeout) before the rest is sent
An outage (`outage = True`, or between two key markers) answers every request 503 SlowDown.

Use it in-process (FaultProxy(...).start()) or from the shell:
  fault_proxy.py --upstream-port 5000 --rate 0.3 --kinds 503,500,drop,slow --seed 1
"""
import argparse
import collections
import http.client
import http.server
import json
import random
import socket
import threading
import time

KINDS = ("503", "500", "drop", "slow")
# Headers that describe one hop, not the message: never relayed.
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te",
              "trailer", "upgrade", "expect"}

ERROR_BODY = ('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
              '<Message>{message} (injected by fault_proxy)</Message></Error>')


class FaultProxy:
    def __init__(self, upstream_port, rate=0.0, kinds=KINDS, seed=0, stall_seconds=3.0,
                 port=0):
        unknown = set(kinds) - set(KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds {sorted(unknown)}; known: {KINDS}")
        self.upstream_port = upstream_port
        self.rate = rate
        self.kinds = tuple(kinds)
        self.stall_seconds = stall_seconds
        self.outage = False
        self._outage_markers = None  # (start, end): outage from a path with start to one with end
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self.counts = collections.Counter()
        proxy = self

        class Handler(_Relay):
            owner = proxy

        self.server = _Server(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = None

    def start(self):
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def outage_between(self, start_marker, end_marker):
        """Every request is answered 503 from the first whose path holds start_marker until
        (not including) the first whose path holds end_marker."""
        with self._lock:
            self._outage_markers = (start_marker, end_marker)

    def stats(self):
        with self._lock:
            return dict(self.counts)

    def decide(self, method, path):
        """The fault for one request: None, "outage" or one of KINDS; counted."""
        with self._lock:
            if self._outage_markers:
                start, end = self._outage_markers
                if not self.outage and start in path:
                    self.outage = True
                elif self.outage and end in path:
                    self.outage = False
                    self._outage_markers = None
            kind = None
            if self.outage:
                kind = "outage"
            elif self.rate > 0 and self._rng.random() < self.rate:
                kind = self._rng.choice(self.kinds)
            self.counts["requests"] += 1
            self.counts[f"method:{method}"] += 1
            if method == "GET" and "list-type=" in path:
                self.counts["listings"] += 1  # a ListObjectsV2 page
            if kind:
                self.counts[f"fault:{kind}"] += 1
                self.counts[f"fault:{kind}:{method}"] += 1
                self.counts["faults"] += 1
            return kind


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # a client that hangs up (after a stall it timed out) is part of the game


class _Relay(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the client expects of S3
    owner = None  # the FaultProxy, set by a subclass

    def log_message(self, fmt, *args):
        pass

    def do_GET(self):
        self.relay()

    do_PUT = do_POST = do_DELETE = do_HEAD = do_GET

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return body
                body += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length", 0)))

    def relay(self):
        body = self.read_body()
        kind = self.owner.decide(self.command, self.path)
        try:
            if kind in ("503", "outage"):
                return self.error(503, "SlowDown", "Please reduce your request rate.")
            if kind == "500":
                return self.error(500, "InternalError", "We encountered an internal error.")
            status, reason, headers, data = self.forward(body)
            if kind == "drop":
                return self.cut(status, reason, headers, data)
            if kind == "slow":
                return self.stall(status, reason, headers, data)
            self.head(status, reason, headers, len(data))
            self.wfile.write(data)
        except OSError:
            self.close_connection = True  # the client gave up (a stall it timed out)

    def forward(self, body):
        conn = http.client.HTTPConnection("127.0.0.1", self.owner.upstream_port, timeout=120)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            conn.request(self.command, self.path, body=body if body else None, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, resp.reason, resp.getheaders(), data
        finally:
            conn.close()

    def head(self, status, reason, headers, length):
        self.send_response_only(status, reason)
        for k, v in headers:
            if k.lower() not in HOP_BY_HOP and k.lower() != "content-length":
                self.send_header(k, v)
        if self.command == "HEAD":  # the object's size, as upstream reported it
            length = dict((k.lower(), v) for k, v in headers).get("content-length", length)
        self.send_header("Content-Length", str(length))
        self.end_headers()

    def error(self, status, code, message):
        data = ERROR_BODY.format(code=code, message=message).encode()
        self.send_response_only(status)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", "0" if self.command == "HEAD" else str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def cut(self, status, reason, headers, data):
        if data and self.command != "HEAD":
            self.head(status, reason, headers, len(data))
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
        self.close_connection = True
        self.connection.shutdown(socket.SHUT_RDWR)

    def stall(self, status, reason, headers, data):
        if data and self.command != "HEAD":
            self.head(status, reason, headers, len(data))
            self.wfile.write(data[: len(data) // 3])
            self.wfile.flush()
            rest = data[len(data) // 3:]
        else:
            rest = None
        time.sleep(self.owner.stall_seconds)
        if rest is None:
            self.head(status, reason, headers, len(data))
            rest = data if self.command != "HEAD" else b""
        self.wfile.write(rest)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--upstream-port", type=int, required=True, help="moto_server's port")
    p.add_argument("--port", type=int, default=0, help="port to listen on (default: free)")
    p.add_argument("--rate", type=float, default=0.1, help="fraction of requests faulted")
    p.add_argument("--kinds", default=",".join(KINDS), help="comma-separated fault kinds")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--stall-seconds", type=float, default=3.0)
    args = p.parse_args()
    proxy = FaultProxy(args.upstream_port, args.rate, args.kinds.split(","), args.seed,
                       args.stall_seconds, args.port).start()
    print(f"fault_proxy: listening on {proxy.url}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        print(json.dumps(proxy.stats(), sort_keys=True))


if __name__ == "__main__":
    main()
