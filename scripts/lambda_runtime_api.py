"""A local Lambda Runtime API: runs a custom-runtime `bootstrap` binary as Lambda does.

Lambda starts `bootstrap` with AWS_LAMBDA_RUNTIME_API pointing at its Runtime API and the
function's environment; the binary long-polls `GET /2018-06-01/runtime/invocation/next` for an
event and answers with `POST …/invocation/<request id>/response` or `…/error`. This module serves
those calls on loopback, so the very binary that is deployed can be driven by a test or a
benchmark: several instances may poll at once (Lambda's concurrency), each invocation gets a
request id and a deadline (the function's timeout), and the answers are collected.

Used by scripts/bench-trigger.py (init time, latency) and tests/e2e/e2e.py (the deployed
function's code and configuration, fed the events moto delivered).
"""

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

API_PREFIX = "/2018-06-01/runtime"


@dataclass
class Answer:
    """What the function answered for one invocation."""

    request_id: str
    kind: str  # "response" or "error"
    body: bytes
    seconds: float

    def json(self):
        return json.loads(self.body) if self.body else None


class _State:
    def __init__(self, timeout_ms, function_arn):
        self.cv = threading.Condition()
        self.queue = []  # (request id, event)
        self.sent = {}
        self.answers = {}
        self.first_next = None
        self.init_errors = []
        self.timeout_ms = timeout_ms
        self.function_arn = function_arn
        self.closed = False


def _handler(state):
    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def _reply(self, code, body=b"", headers=None):
            self.send_response(code)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            if self.path != f"{API_PREFIX}/invocation/next":
                return self._reply(404)
            with state.cv:
                if state.first_next is None:
                    state.first_next = time.monotonic()
                    state.cv.notify_all()
                state.cv.wait_for(lambda: state.queue or state.closed)
                if state.closed:
                    return self._reply(500, b'{"errorMessage":"runtime API closed"}')
                rid, event = state.queue.pop(0)
                state.sent[rid] = time.monotonic()
            body = json.dumps(event).encode()
            deadline = int(time.time() * 1000) + state.timeout_ms
            self._reply(200, body, {
                "Lambda-Runtime-Aws-Request-Id": rid,
                "Lambda-Runtime-Deadline-Ms": str(deadline),
                "Lambda-Runtime-Invoked-Function-Arn": state.function_arn,
                "Lambda-Runtime-Trace-Id": "Root=1-00000000-000000000000000000000000",
                "Content-Type": "application/json",
            })

        def do_POST(self):
            n = int(self.headers.get("Content-Length", 0))
            body = self.rfile.read(n)
            parts = self.path[len(API_PREFIX):].strip("/").split("/")
            # invocation/<id>/response | invocation/<id>/error | init/error
            if len(parts) == 3 and parts[0] == "invocation" and parts[2] in ("response", "error"):
                rid, kind = parts[1], parts[2]
                with state.cv:
                    started = state.sent.get(rid, time.monotonic())
                    state.answers[rid] = Answer(rid, kind, body, time.monotonic() - started)
                    state.cv.notify_all()
            else:
                with state.cv:
                    state.init_errors.append(body.decode(errors="replace"))
                    state.cv.notify_all()
            self._reply(202, b"{}")

    return H


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # An instance stopped while polling resets its connection: expected at shutdown.
        if not isinstance(sys.exc_info()[1], (ConnectionError, BrokenPipeError)):
            super().handle_error(request, client_address)


class LocalLambda:
    """`instances` processes of `bootstrap` behind one local Runtime API.

    `env` is the function's environment (e.g. read back from GetFunctionConfiguration) plus
    whatever the caller needs (AWS_ENDPOINT_URL, credentials); the Runtime API address and the
    standard AWS_LAMBDA_* variables are added here. Output of instance i goes to
    `<log_prefix>.<i>.log`.
    """

    def __init__(self, bootstrap, env, *, instances=1, timeout_s=60, function_name="loglake",
                 function_arn=None, log_prefix="/tmp/loglake-bootstrap"):
        self.bootstrap = bootstrap
        self.state = _State(int(timeout_s * 1000), function_arn or
                            f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}")
        self.timeout_s = timeout_s
        self.server = _Server(("127.0.0.1", 0), _handler(self.state))
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.env = dict(env)
        self.env.update(
            AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{self.server.server_port}",
            AWS_LAMBDA_FUNCTION_NAME=function_name,
            AWS_LAMBDA_FUNCTION_MEMORY_SIZE=self.env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256"),
            AWS_LAMBDA_FUNCTION_VERSION="$LATEST",
        )
        self.instances = instances
        self.log_paths = [f"{log_prefix}.{i}.log" for i in range(instances)]
        self.procs = []
        self.init_ms = None

    def start(self, wait_s=30):
        """Starts the processes; returns ms from the first start to the first poll."""
        t0 = time.monotonic()
        for path in self.log_paths:
            out = open(path, "wb")
            self.procs.append(subprocess.Popen([self.bootstrap], env=self.env, stdout=out,
                                               stderr=subprocess.STDOUT))
            out.close()
        with self.state.cv:
            ok = self.state.cv.wait_for(
                lambda: self.state.first_next is not None or self.state.init_errors
                or any(p.poll() is not None for p in self.procs), wait_s)
        if not ok or self.state.first_next is None:
            self.stop()
            raise RuntimeError(f"{self.bootstrap} did not poll for an event within {wait_s} s "
                               f"(init errors: {self.state.init_errors}); output: {self.log_paths}")
        self.init_ms = (self.state.first_next - t0) * 1000
        return self.init_ms

    def submit(self, event):
        """Queues one invocation; returns its request id."""
        rid = str(uuid.uuid4())
        with self.state.cv:
            self.state.queue.append((rid, event))
            self.state.cv.notify_all()
        return rid

    def wait(self, rid, timeout_s=None):
        """The answer to invocation `rid`."""
        timeout_s = timeout_s or self.timeout_s + 10
        with self.state.cv:
            self.state.cv.wait_for(
                lambda: rid in self.state.answers or all(p.poll() is not None for p in self.procs),
                timeout_s)
            if rid in self.state.answers:
                return self.state.answers.pop(rid)
        exited = [p.returncode for p in self.procs if p.poll() is not None]
        why = (f"every instance exited (codes {exited})" if len(exited) == len(self.procs)
               else f"none within {timeout_s} s")
        raise RuntimeError(f"no answer to invocation {rid}: {why}; output: {self.log_paths}")

    def invoke(self, event):
        """One invocation, synchronously."""
        return self.wait(self.submit(event))

    def invoke_all(self, events):
        """Invocations queued at once (the instances take them concurrently), answers in order."""
        rids = [self.submit(e) for e in events]
        return [self.wait(r) for r in rids]

    def output_lines(self):
        """Every line the instances printed so far (EMF documents, logs)."""
        lines = []
        for path in self.log_paths:
            if os.path.exists(path):
                with open(path, "rb") as f:
                    lines += f.read().decode(errors="replace").splitlines()
        return lines

    def stop(self):
        with self.state.cv:
            self.state.closed = True
            self.state.cv.notify_all()
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        self.server.shutdown()
        self.server.server_close()
