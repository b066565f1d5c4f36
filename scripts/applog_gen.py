#!/usr/bin/env python3
"""A second log generator for the benchmark, written apart from `loglake gen` (no shared code).

Writes gzip NDJSON in the shapes three common loggers produce, one logger per service:
  pino (Node.js):            {"level":30,"time":<epoch ms>,"pid":..,"hostname":..,"name":..,"msg":..,"req":{..},"res":{..},"responseTime":..}
  logstash-logback (Java):   {"@timestamp":"…+01:00","@version":"1","message":..,"logger_name":..,"thread_name":..,"level":"INFO","level_value":20000,"app":..,"host":..[,"stack_trace":..]}
  structlog (Python):        {"timestamp":"…Z","level":"warning","logger":..,"event":..,"request_id":..,"user_id":..,"duration_ms":..}
About 1% of lines are bad, of four kinds: cut off mid-record, a plain-text stack-trace line, a
record without any time field, a time field that is not a time.

The report (JSON on stdout) is the benchmark's independent truth: lines written, lines that a
correct transform must keep (`valid`), bad lines by kind, uncompressed bytes.

  scripts/applog_gen.py --out DIR [--files 64] [--lines 40000] [--seed 7] [--hours 72]
"""
import argparse
import datetime as dt
import gzip
import json
import multiprocessing
import os
import random

START = dt.datetime(2026, 11, 28, tzinfo=dt.timezone.utc)
WORDS = ("order cart payment invoice user session token cache queue retry upstream timeout "
         "shipment refund coupon inventory search index report export webhook batch").split()
PATHS = ["/api/cart", "/api/orders/{}", "/api/users/{}/profile", "/healthz", "/api/search",
         "/api/payments/{}/capture", "/static/app.{}.js"]
BAD_RATE = 0.01


def message(rng):
    n = rng.randint(5, 24)
    return " ".join(rng.choice(WORDS) for _ in range(n)) + f" id={rng.randrange(10**9)}"


def pino(rng, t, svc, host):
    status = rng.choice((200, 200, 200, 201, 204, 304, 400, 404, 500))
    path = rng.choice(PATHS).format(rng.randrange(10**6))
    lvl = 50 if status >= 500 else 40 if status >= 400 else rng.choice((30, 30, 30, 20))
    return {"level": lvl, "time": int(t.timestamp() * 1000), "pid": 4000 + int(host[-6:], 16) % 1000,
            "hostname": host, "name": svc, "msg": message(rng),
            "req": {"id": rng.randrange(10**7), "method": rng.choice(("GET", "POST", "PUT")),
                    "url": path, "remoteAddress": f"10.0.{rng.randrange(256)}.{rng.randrange(256)}"},
            "res": {"statusCode": status}, "responseTime": rng.randrange(1, 3000)}


def logback(rng, t, svc, host):
    lvl = rng.choice(("INFO", "INFO", "INFO", "DEBUG", "WARN", "ERROR"))
    local = t.astimezone(dt.timezone(dt.timedelta(hours=1)))
    rec = {"@timestamp": local.isoformat(timespec="milliseconds"), "@version": "1",
           "message": message(rng), "logger_name": f"com.acme.{svc}.{rng.choice(WORDS).title()}Service",
           "thread_name": f"http-nio-8080-exec-{rng.randrange(1, 200)}", "level": lvl,
           "level_value": {"DEBUG": 10000, "INFO": 20000, "WARN": 30000, "ERROR": 40000}[lvl],
           "app": svc, "host": host}
    if lvl == "ERROR":
        rec["stack_trace"] = "java.lang.IllegalStateException: " + message(rng) + "".join(
            f"\n\tat com.acme.{svc}.{w.title()}.run({w.title()}.java:{rng.randrange(1, 900)})"
            for w in rng.sample(WORDS, 6))
    return rec


def structlog(rng, t, svc, host):
    return {"timestamp": t.isoformat(timespec="microseconds").replace("+00:00", "Z"),
            "level": rng.choice(("info", "info", "info", "debug", "warning", "error")),
            "logger": f"{svc}.{rng.choice(WORDS)}", "event": message(rng),
            "request_id": "%032x" % rng.getrandbits(128), "user_id": f"u{rng.randrange(10**5)}",
            "duration_ms": round(rng.random() * 800, 3), "host": host}


SHAPES = (pino, logback, structlog)
TIME_FIELDS = ("time", "@timestamp", "timestamp")


def bad_line(rng, rec, kind):
    text = json.dumps(rec, separators=(",", ":"))
    if kind == "truncated":
        return text[: rng.randrange(10, len(text) - 1)]
    if kind == "plain_text":
        return f"\tat com.acme.{rng.choice(WORDS).title()}.run(Main.java:{rng.randrange(900)})"
    for f in TIME_FIELDS:
        if f in rec:
            if kind == "no_time":
                del rec[f]
            else:  # bad_time
                rec[f] = "yesterday at noon"
    return json.dumps(rec, separators=(",", ":"))


def write_file(args):
    out, index, files, lines, seed, hours = args
    rng = random.Random(seed * 100_003 + index)
    shape = SHAPES[index % len(SHAPES)]
    svc = f"{('checkout', 'orders', 'billing', 'search')[index % 4]}-{index % 7}"
    hosts = [f"{svc}-{rng.randrange(16**6):06x}" for _ in range(4)]
    span = hours * 3600 / files
    t0 = START + dt.timedelta(seconds=index * span)
    counts = {"lines": 0, "valid": 0, "bytes": 0, "bad": {}}
    path = os.path.join(out, f"{svc}-{index:04d}.ndjson.gz")
    with open(path + ".tmp", "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6, mtime=0) as f:
        buf = []
        for i in range(lines):
            t = t0 + dt.timedelta(seconds=span * i / lines + rng.random())
            rec = shape(rng, t, svc, rng.choice(hosts))
            if rng.random() < BAD_RATE:
                kind = rng.choice(("truncated", "plain_text", "no_time", "bad_time"))
                text = bad_line(rng, rec, kind)
                counts["bad"][kind] = counts["bad"].get(kind, 0) + 1
            else:
                text = json.dumps(rec, separators=(",", ":"))
                counts["valid"] += 1
            buf.append(text)
            counts["lines"] += 1
            if len(buf) == 4096:
                data = ("\n".join(buf) + "\n").encode()
                counts["bytes"] += len(data)
                f.write(data)
                buf = []
        data = ("\n".join(buf) + "\n").encode() if buf else b""
        counts["bytes"] += len(data)
        f.write(data)
    os.replace(path + ".tmp", path)
    return os.path.basename(path), counts


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", required=True)
    p.add_argument("--files", type=int, default=64)
    p.add_argument("--lines", type=int, default=40000)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--hours", type=int, default=72)
    a = p.parse_args()
    os.makedirs(a.out, exist_ok=True)
    jobs = [(a.out, i, a.files, a.lines, a.seed, a.hours) for i in range(a.files)]
    with multiprocessing.Pool(os.cpu_count()) as pool:
        results = pool.map(write_file, jobs)
    total = {"generator": "scripts/applog_gen.py", "seed": a.seed, "files": a.files,
             "lines": 0, "valid": 0, "bytes": 0, "bad": {}}
    for _, c in results:
        for k in ("lines", "valid", "bytes"):
            total[k] += c[k]
        for k, v in c["bad"].items():
            total["bad"][k] = total["bad"].get(k, 0) + v
    print(json.dumps(total, sort_keys=True))


if __name__ == "__main__":
    main()
