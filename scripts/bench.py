#!/usr/bin/env python3
"""The benchmark behind README "Performance" (run through scripts/bench.sh, which builds).

For each data set (the project's `loglake gen`, and scripts/applog_gen.py, written apart from it):
bare decompression of the input (`gzip -dc`, one process per core), then `loglake transform` and
DuckDB (`read_json` -> `COPY ... PARTITION_BY`) alternating for --rounds rounds. Reports the
median seconds, MB/s of uncompressed input, rows/s and peak RSS of each, the ratios, and checks
every loglake run against the generator's own report (rows written = valid lines, read back with
DuckDB from the Parquet files) and that every round wrote byte-identical files. With --s3 URL
(a moto server), the same file transformed local -> local and s3:// -> s3://, alternating.
Prints a Markdown table on stdout; progress on stderr; exits 1 if a check fails.
"""
import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def run(cmd, stdout=subprocess.DEVNULL, env=None, ok=(0,)):
    """Runs cmd; returns (seconds, peak RSS in MiB, CPU seconds, stdout bytes or None)."""
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdout=stdout, env=env)
    out = p.stdout.read() if stdout == subprocess.PIPE else None
    _, status, ru = os.wait4(p.pid, 0)
    secs = time.monotonic() - t0
    code = os.waitstatus_to_exitcode(status)
    if code not in ok:
        raise SystemExit(f"error: {' '.join(map(str, cmd))} exited {code}")
    return secs, ru.ru_maxrss / 1024, ru.ru_utime + ru.ru_stime, out


def tree_digest(root):
    h = hashlib.sha256()
    for p in sorted(Path(root).rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(root)).encode())
            h.update(hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()


class Dataset:
    def __init__(self, name, raw, truth, schema=None):
        self.name, self.raw, self.truth, self.schema = name, Path(raw), truth, schema
        self.files = sorted(p for p in self.raw.iterdir() if p.name.endswith(".gz"))

    @property
    def valid(self):
        return self.truth["valid"]


def own_dataset(bin_, d, files, lines):
    raw = d / f"raw{files}"
    report = raw / ".report.json"
    if not report.exists():
        log(f"generating {raw} with loglake gen ...")
        subprocess.run(["rm", "-rf", str(raw)], check=True)
        out = subprocess.run([bin_, "gen", "--out", raw, "--files", str(files), "--lines", str(lines),
                              "--seed", "42", "--gzip", "--hours", "72"], check=True,
                             stdout=subprocess.PIPE).stdout
        r = json.loads(out)
        truth = {"generator": "loglake gen", "lines": r["lines"], "valid": r["lines"] - r["bad_lines"]}
        report.write_text(json.dumps(truth))
    return Dataset(f"loglake gen ({files} files)", raw, json.loads(report.read_text()))


def applog_dataset(d, files, lines):
    raw = d / "applogs"
    report = raw / ".report.json"
    if not report.exists():
        log(f"generating {raw} with scripts/applog_gen.py ...")
        subprocess.run(["rm", "-rf", str(raw)], check=True)
        out = subprocess.run([sys.executable, HERE / "applog_gen.py", "--out", raw, "--files", str(files),
                              "--lines", str(lines)], check=True, stdout=subprocess.PIPE).stdout
        report.write_text(out.decode())
    return Dataset(f"applog_gen.py ({files} files)", raw, json.loads(report.read_text()))


# DuckDB is given the columns (it cannot infer one structure from mixed logs) and does the same
# work where it can: the time field of each logger, levels normalised, dt/hr partitions, zstd.
# It does less than loglake: no attributes column for unknown fields, bad lines skipped rather
# than quarantined with a reason.
DUCKDB_SQL = {
    "own": """
SELECT upper(level) AS level, service, host, message, trace_id, user_id, method, path,
       TRY_CAST(status AS INTEGER) AS status, TRY_CAST(latency_ms AS DOUBLE) AS latency_ms,
       TRY_CAST(bytes AS BIGINT) AS bytes, TRY_CAST(success AS BOOLEAN) AS success, event_ts
FROM (SELECT *, COALESCE(TRY_CAST("timestamp" AS TIMESTAMPTZ), TRY_CAST("@timestamp" AS TIMESTAMPTZ),
                         TRY_CAST("time" AS TIMESTAMPTZ), to_timestamp(TRY_CAST(ts AS BIGINT))) AS event_ts
      FROM read_json('{glob}', format = 'newline_delimited', ignore_errors = true, columns = {cols}))
""",
    "applogs": """
SELECT CASE level WHEN '10' THEN 'TRACE' WHEN '20' THEN 'DEBUG' WHEN '30' THEN 'INFO'
       WHEN '40' THEN 'WARN' WHEN '50' THEN 'ERROR' WHEN '60' THEN 'FATAL' WHEN 'warning' THEN 'WARN'
       ELSE upper(level) END AS level,
       COALESCE(name, app) AS service, COALESCE(hostname, host) AS host,
       COALESCE(msg, message, event) AS message, COALESCE(logger, logger_name) AS logger,
       request_id AS trace_id, user_id, TRY_CAST(duration_ms AS DOUBLE) AS latency_ms, event_ts
FROM (SELECT *, COALESCE(TRY_CAST("@timestamp" AS TIMESTAMPTZ), TRY_CAST("timestamp" AS TIMESTAMPTZ),
                         epoch_ms(TRY_CAST("time" AS BIGINT))) AS event_ts
      FROM read_json('{glob}', format = 'newline_delimited', ignore_errors = true, columns = {cols}))
""",
}
DUCKDB_COLS = {
    "own": ["timestamp", "@timestamp", "time", "ts", "level", "service", "host", "message", "trace_id",
            "user_id", "method", "path", "status", "latency_ms", "bytes", "success"],
    "applogs": ["time", "@timestamp", "timestamp", "level", "name", "app", "hostname", "host", "msg",
                "message", "event", "logger", "logger_name", "request_id", "user_id", "duration_ms"],
}
DUCKDB_RUNNER = """
import duckdb, sys
sql, out = sys.argv[1], sys.argv[2]
con = duckdb.connect()
con.execute("SET TimeZone = 'UTC'")
con.execute(f"COPY (SELECT *, strftime(event_ts, '%Y-%m-%d') AS dt, strftime(event_ts, '%H') AS hr FROM ({sql}) "
            f"WHERE event_ts IS NOT NULL) TO '{out}' (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (dt, hr))")
"""


def parquet_rows(root):
    import duckdb
    return duckdb.connect().execute(
        f"SELECT count(*) FROM read_parquet('{root}/**/*.parquet', hive_partitioning = false)").fetchone()[0]


class Bench:
    def __init__(self, args):
        self.a = args
        self.dir = Path(args.dir)
        self.rows = []  # table rows
        self.failures = []

    def check(self, ok, what):
        if not ok:
            self.failures.append(what)
            log(f"CHECK FAILED: {what}")

    def decompress(self, ds):
        cmd = ["sh", "-c", f"printf '%s\\0' \"$@\" | xargs -0 -P {os.cpu_count()} -n 1 gzip -dc >/dev/null",
               "sh", *map(str, ds.files)]
        return min(run(cmd)[0] for _ in range(2))

    def loglake(self, ds, out, extra=()):
        cmd = [self.a.bin, "transform", "--input", str(ds.raw), "--output", str(out), "--quiet", *extra]
        if ds.schema:
            cmd += ["--schema", ds.schema]
        subprocess.run(["rm", "-rf", str(out)], check=True)
        secs, rss, cpu, stdout = run(cmd, stdout=subprocess.PIPE, ok=(0, 1))
        rows = [json.loads(line) for line in stdout.splitlines()]
        return secs, rss, cpu, rows

    def duckdb(self, ds, kind, out):
        subprocess.run(["rm", "-rf", str(out)], check=True)
        cols = "{" + ", ".join(f"'{c}': 'VARCHAR'" for c in DUCKDB_COLS[kind]) + "}"
        sql = DUCKDB_SQL[kind].format(glob=f"{ds.raw}/*.gz", cols=cols)
        return run([sys.executable, "-c", DUCKDB_RUNNER, sql, str(out)])

    def dataset(self, ds, kind):
        log(f"== {ds.name}: {len(ds.files)} files")
        decomp = self.decompress(ds)
        times, rsss, cpus, dtimes, drss, digests = [], [], [], [], [], set()
        out, dout = self.dir / f"out-{kind}", self.dir / f"out-{kind}-duckdb"
        summary = None
        for r in range(self.a.rounds):
            secs, rss, cpu, summary = self.loglake(ds, out)
            times.append(secs), rsss.append(rss), cpus.append(cpu)
            digests.add(tree_digest(out / "clean"))
            log(f"  round {r + 1}: loglake {secs:.2f} s ({rss:.0f} MiB)")
            if self.a.duckdb:
                d = self.duckdb(ds, kind, dout)
                dtimes.append(d[0]), drss.append(d[1])
                log(f"  round {r + 1}: duckdb  {d[0]:.2f} s ({d[1]:.0f} MiB)")
        decoded = sum(s["bytes_decoded"] for s in summary)
        written = sum(s["records_written"] for s in summary)
        lines = sum(s["records_in"] for s in summary)
        self.check(written == ds.valid, f"{ds.name}: loglake wrote {written} rows, the generator made {ds.valid} valid lines")
        back = parquet_rows(out / "clean")
        self.check(back == ds.valid, f"{ds.name}: {back} rows read back by DuckDB, the generator made {ds.valid} valid lines")
        self.check(len(digests) == 1, f"{ds.name}: {len(digests)} different outputs over {self.a.rounds} rounds")
        med = statistics.median(times)
        row = {"data": ds.name, "MB": decoded / 1e6, "rows": lines, "loglake_s": med,
               "loglake_MB_s": decoded / 1e6 / med, "loglake_Mrows_s": lines / med / 1e6,
               "loglake_rss_MiB": max(rsss), "loglake_cpu_s": statistics.median(cpus),
               "gunzip_s": decomp, "vs_gunzip": med / decomp, "files": sum(len(s["files"]) for s in summary)}
        if dtimes:
            dmed = statistics.median(dtimes)
            row |= {"duckdb_s": dmed, "duckdb_MB_s": decoded / 1e6 / dmed, "duckdb_rss_MiB": max(drss),
                    "speedup": dmed / med, "duckdb_rows": parquet_rows(dout)}
        self.rows.append(row)
        log("  " + json.dumps(row))

    def one_file(self, ds):
        """All lines of the own data set in one file: one object spanning 72 partitions."""
        single = self.dir / "raw1-single"
        if not (single / ".done").exists():
            subprocess.run(["rm", "-rf", str(single)], check=True)
            single.mkdir(parents=True)
            with open(single / "all.ndjson.gz", "wb") as f:
                for p in ds.files:  # gzip members concatenated: one valid gzip file
                    f.write(p.read_bytes())
            (single / ".done").touch()
        one = Dataset(f"{ds.name} as 1 file", single, ds.truth)
        times, rsss = [], []
        for _ in range(self.a.rounds):
            secs, rss, _, summary = self.loglake(one, self.dir / "out-1file")
            times.append(secs), rsss.append(rss)
        decoded = sum(s["bytes_decoded"] for s in summary)
        written = sum(s["records_written"] for s in summary)
        self.check(written == ds.valid, f"{one.name}: wrote {written}, expected {ds.valid}")
        med = statistics.median(times)
        self.rows.append({"data": one.name, "MB": decoded / 1e6, "rows": ds.truth["lines"], "loglake_s": med,
                          "loglake_MB_s": decoded / 1e6 / med, "loglake_Mrows_s": ds.truth["lines"] / med / 1e6,
                          "loglake_rss_MiB": max(rsss), "files": sum(len(s["files"]) for s in summary)})
        log("  " + json.dumps(self.rows[-1]))

    def s3(self, ds):
        """Local -> local against s3:// -> s3:// (moto) on one file, one job, alternating."""
        import boto3
        env = dict(os.environ, AWS_ENDPOINT_URL=self.a.s3, AWS_ACCESS_KEY_ID="testing",
                   AWS_SECRET_ACCESS_KEY="testing", AWS_REGION="us-east-1")
        s3 = boto3.client("s3", endpoint_url=self.a.s3, region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")
        for b in ("bench-raw", "bench-clean"):
            s3.create_bucket(Bucket=b)
        f = self.dir / "s3-input.ndjson.gz"  # the first 8 objects as one (gzip members concatenated)
        if not f.exists():
            f.write_bytes(b"".join(p.read_bytes() for p in ds.files[:8]))
        s3.upload_file(str(f), "bench-raw", f"logs/{f.name}")
        local, remote, moto_cpu, lcpu, rcpu = [], [], [], [], []
        for _ in range(self.a.rounds):
            subprocess.run(["rm", "-rf", str(self.dir / "out-s3-local")], check=True)
            secs, _, cpu, _ = run([self.a.bin, "transform", "--quiet", "--jobs", "1", "--input", str(f),
                                   "--source", f"bench-raw/logs/{f.name}",
                                   "--output", str(self.dir / "out-s3-local")], ok=(0, 1))
            local.append(secs), lcpu.append(cpu)
            m0 = self.moto_cpu()
            secs, _, cpu, _ = run([self.a.bin, "transform", "--quiet", "--jobs", "1", "--input",
                                   f"s3://bench-raw/logs/{f.name}", "--output", "s3://bench-clean/out"],
                                  env=env, ok=(0, 1))
            remote.append(secs), rcpu.append(cpu)
            moto_cpu.append(self.moto_cpu() - m0)
        l, r, m = statistics.median(local), statistics.median(remote), statistics.median(moto_cpu)
        # moto shares the 2 cores with the transform; its CPU time is not ours, so the ratio is
        # also given with it taken out of the S3 run's wall time.
        self.s3_row = {"file": f.name, "MB_gzip": f.stat().st_size / 1e6, "local_s": l, "s3_s": r,
                       "s3_vs_local": l / r, "moto_cpu_s": m, "s3_vs_local_without_moto": l / (r - m),
                       "local_cpu_s": statistics.median(lcpu), "s3_cpu_s": statistics.median(rcpu)}
        log("  " + json.dumps(self.s3_row))

    def moto_cpu(self):
        if not self.a.moto_pid:
            return 0.0
        fields = Path(f"/proc/{self.a.moto_pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def table(self):
        print("| data | uncompressed | loglake | MB/s | M rows/s | peak RSS | DuckDB | DuckDB RSS | loglake vs DuckDB | gunzip ×cores | loglake ÷ gunzip | files |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|")
        for r in self.rows:
            dk = (f"{r['duckdb_s']:.2f} s | {r['duckdb_rss_MiB']:.0f} MiB | **{r['speedup']:.2f}×**"
                  if "duckdb_s" in r else "– | – | –")
            gz = f"{r['gunzip_s']:.2f} s | {r['vs_gunzip']:.2f}×" if "gunzip_s" in r else "– | –"
            print(f"| {r['data']} | {r['MB']:.0f} MB, {r['rows'] / 1e6:.2f} M lines | {r['loglake_s']:.2f} s | "
                  f"{r['loglake_MB_s']:.0f} | {r['loglake_Mrows_s']:.2f} | {r['loglake_rss_MiB']:.0f} MiB | {dk} | {gz} | {r['files']} |")
        if getattr(self, "s3_row", None):
            s = self.s3_row
            print(f"\nS3 path (moto on loopback, `--jobs 1`, {s['file']}, {s['MB_gzip']:.0f} MB gzip): "
                  f"local → local {s['local_s']:.2f} s, s3:// → s3:// {s['s3_s']:.2f} s: "
                  f"**{100 * s['s3_vs_local']:.0f}%** of local; moto's own CPU {s['moto_cpu_s']:.2f} s per run, "
                  f"without it {100 * s['s3_vs_local_without_moto']:.0f}%; loglake's CPU "
                  f"{s['local_cpu_s']:.2f} s local, {s['s3_cpu_s']:.2f} s S3")
        Path(self.dir / "bench-results.json").write_text(
            json.dumps({"rows": self.rows, "s3": getattr(self, "s3_row", None)}, indent=1))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--bin", required=True)
    p.add_argument("--dir", required=True)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--files", type=int, default=64)
    p.add_argument("--lines", type=int, default=40000)
    p.add_argument("--duckdb", action="store_true")
    p.add_argument("--s3", help="moto server URL: also measure the S3 path")
    p.add_argument("--moto-pid", type=int, help="moto's pid, to report its CPU time separately")
    p.add_argument("--only", choices=["own", "applogs"], help="one data set only")
    a = p.parse_args()
    b = Bench(a)
    b.dir.mkdir(parents=True, exist_ok=True)
    own = own_dataset(a.bin, b.dir, a.files, a.lines)
    if a.only in (None, "own"):
        b.dataset(own, "own")
    if a.only in (None, "applogs"):
        b.dataset(applog_dataset(b.dir, a.files, a.lines), "applogs")
    if a.only is None:
        b.one_file(own)
    if a.s3:
        b.s3(own)
    b.table()
    if b.failures:
        log(f"{len(b.failures)} check(s) failed")
        sys.exit(1)


if __name__ == "__main__":
    main()
