"""A loopback HTTP proxy in front of the moto server that injects faults at the process boundary.

The code under test talks to this proxy as it would to AWS (AWS_ENDPOINT_URL); the proxy forwards
each request to moto, unless a rule says otherwise. Rules are set and the injections read over
the proxy's own control paths, so a test changes the schedule between steps:

  POST /__faults__/rules   JSON list of rules (replaces the current ones)
  GET  /__faults__/log     JSON list of what was injected, in order
  POST /__faults__/reset   no rules, empty log

A rule: {"name": str, "service": "s3"|"dynamodb"|"glue"|null, "operation": str|null (the
X-Amz-Target operation, e.g. "UpdateItem"), "method": str|null, "path": regex|null,
"action": str, "times": int (most injections; default unlimited), "probability": float
(default 1, drawn from one seeded generator: "seed" on the first rule), "body" (a JSON error
document to answer instead of the default one), and per action:
  status        answer `status` with error `code` without forwarding (5xx, SlowDown, throttling)
  status_after  forward (the write happens), then answer `status`/`code` (the response is lost)
  reset_before  close the connection without forwarding
  reset_after   forward, then close the connection without answering
  cut_body      forward, then send the headers with the full Content-Length and only
                `fraction` (default 0.5) of the body, and close (a body cut mid-stream)
  latency       wait `ms`, then forward
  hold          neither forward nor answer for `ms` (default 60000), then close: the caller
                hangs on this request, which is where a test kills it (`kill -9` mid-publish)
"after": N lets the first N matching requests through before the rule fires.

Only loopback: it listens on 127.0.0.1 and forwards to the upstream given, which must be a
loopback URL. Usage: python scripts/fault_proxy.py --upstream http://127.0.0.1:PORT [--port 0]
(prints "fault proxy: http://127.0.0.1:<port>" on stdout once it listens).
"""

import argparse
import http.client
import http.server
import json
import random
import re
import socket
import sys
import threading
import time
import urllib.parse

LOOPBACK = ("127.0.0.1", "localhost", "::1")


class Faults:
    """The rules, the generator and the log, shared by the handler threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self, rules=None):
        with self.lock:
            self.rules = [dict(r, injected=0) for r in (rules or [])]
            seed = next((r.get("seed") for r in self.rules if "seed" in r), 0)
            self.random = random.Random(seed)
            self.log = []

    def pick(self, req):
        """The first rule that matches the request and fires now, or None."""
        with self.lock:
            for rule in self.rules:
                if not matches(rule, req):
                    continue
                if rule.get("times") is not None and rule["injected"] >= rule["times"]:
                    continue
                if rule.get("after"):
                    rule["after"] -= 1
                    continue
                if self.random.random() >= float(rule.get("probability", 1.0)):
                    continue
                rule["injected"] += 1
                self.log.append({"rule": rule.get("name"), "action": rule["action"],
                                 "service": req["service"], "operation": req["operation"],
                                 "method": req["method"], "path": req["path"]})
                return rule
        return None


def service_of(headers):
    """(service, operation) from the SigV4 scope and X-Amz-Target."""
    target = headers.get("X-Amz-Target") or ""
    scope = re.search(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/aws4_request",
                      headers.get("Authorization") or "")
    service = scope.group(1) if scope else None
    operation = target.rsplit(".", 1)[-1] if target else None
    return service, operation


def matches(rule, req):
    """`service`, `operation` and `method` match whole (each may be a regex: "PUT|POST"),
    `path` anywhere."""
    for key in ("service", "operation", "method"):
        if rule.get(key) is not None and re.fullmatch(rule[key], req[key] or "") is None:
            return False
    return rule.get("path") is None or re.search(rule["path"], req["path"]) is not None


def error_body(req, rule, code):
    """The error document of an injected answer: the rule's own `body` (JSON), else one in
    the service's protocol (S3 XML, JSON elsewhere) with `code`."""
    if rule.get("body") is not None:
        return json.dumps(rule["body"]).encode(), "application/x-amz-json-1.0"
    if req["service"] == "s3":
        body = (f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code>'
                f"<Message>injected by the fault proxy</Message></Error>").encode()
        return body, "application/xml"
    body = json.dumps({"__type": code, "message": "injected by the fault proxy"}).encode()
    return body, "application/x-amz-json-1.0"


def make_handler(upstream, faults):
    up = urllib.parse.urlsplit(upstream)

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # quiet: the injections are the log
            pass

        def handle(self):
            # A client killed mid-request (the crash tests do that) is not the proxy's error.
            try:
                super().handle()
            except (ConnectionResetError, BrokenPipeError):
                pass

        def body(self):
            if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                out = b""
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass
                        return out
                    out += self.rfile.read(size)
                    self.rfile.readline()
            n = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(n) if n else b""

        def control(self, data):
            if self.command == "POST" and self.path == "/__faults__/rules":
                faults.reset(json.loads(data or b"[]"))
                return self.answer(200, b'{"ok":true}')
            if self.command == "POST" and self.path == "/__faults__/reset":
                faults.reset()
                return self.answer(200, b'{"ok":true}')
            if self.command == "GET" and self.path == "/__faults__/log":
                with faults.lock:
                    return self.answer(200, json.dumps(faults.log).encode())
            return self.answer(404, b'{"error":"unknown control path"}')

        def answer(self, status, body, content_type="application/json", headers=(), length=None):
            self.send_response(status)
            for k, v in headers:
                self.send_header(k, v)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body) if length is None else length))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def forward(self, data):
            conn = http.client.HTTPConnection(up.hostname, up.port, timeout=120)
            headers = {k: v for k, v in self.headers.items()
                       if k.lower() not in ("transfer-encoding", "connection")}
            headers["Content-Length"] = str(len(data))
            conn.request(self.command, self.path, body=data, headers=headers)
            resp = conn.getresponse()
            body = resp.read()
            headers = [(k, v) for k, v in resp.getheaders()
                       if k.lower() not in ("transfer-encoding", "connection", "content-length")]
            # A HEAD answer has no body but the object's length.
            length = resp.getheader("Content-Length") if self.command == "HEAD" else None
            conn.close()
            return resp.status, headers, body, length

        def drop(self):
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

        def handle_any(self):
            data = self.body()
            if self.path.startswith("/__faults__/"):
                return self.control(data)
            service, operation = service_of(self.headers)
            req = {"service": service, "operation": operation, "method": self.command,
                   "path": self.path}
            rule = faults.pick(req)
            action = rule["action"] if rule else None
            if action == "latency":
                time.sleep(float(rule.get("ms", 200)) / 1000)
            if action == "reset_before":
                return self.drop()
            if action == "hold":
                time.sleep(float(rule.get("ms", 60000)) / 1000)
                return self.drop()
            if action == "status":
                body, ctype = error_body(req, rule, rule.get("code", "SlowDown"))
                return self.answer(int(rule.get("status", 503)), body, ctype)
            status, headers, body, length = self.forward(data)
            if action == "reset_after":
                return self.drop()
            if action == "status_after":
                body, ctype = error_body(req, rule, rule.get("code", "InternalError"))
                return self.answer(int(rule.get("status", 500)), body, ctype)
            if action == "cut_body" and body:
                keep = int(len(body) * float(rule.get("fraction", 0.5)))
                self.send_response(status)
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[:keep])
                self.wfile.flush()
                return self.drop()
            ctype = next((v for k, v in headers if k.lower() == "content-type"), "application/octet-stream")
            self.answer(status, body, ctype, [(k, v) for k, v in headers if k.lower() != "content-type"],
                        length)

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any

    return Handler


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--upstream", required=True)
    p.add_argument("--port", type=int, default=0)
    a = p.parse_args()
    if urllib.parse.urlsplit(a.upstream).hostname not in LOOPBACK:
        sys.exit(f"fault proxy: refusing a non-loopback upstream {a.upstream}")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", a.port),
                                             make_handler(a.upstream, Faults()))
    server.daemon_threads = True
    print(f"fault proxy: http://127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
