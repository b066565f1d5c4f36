"""Independent readers see what loglake wrote (DESIGN.md section 3).

Reads <root>/clean/<table> with pyarrow (Hive partitioning) and DuckDB (hive_partitioning),
and checks, row by row, that the partition values equal the record's UTC timestamp, that the
row count equals the generator's own report (lines - bad lines; not the transform's summaries),
and that the types are the schema's. Failures raise explicit errors (they hold under python -O).

usage: check_readers.py ROOT TABLE GEN_REPORT.json
"""

import json
import os
import sys
from datetime import timezone

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds


class Mismatch(Exception):
    pass


def check(ok, what):
    if not ok:
        raise Mismatch(what)


def main() -> int:
    root, table, gen_report = sys.argv[1:4]
    with open(gen_report) as f:
        report = json.load(f)
    written = report["lines"] - report["bad_lines"]
    location = f"{root}/clean/{table}"

    # pyarrow: Hive partitioning; files and folders starting with `_` or `.` are ignored.
    dataset = ds.dataset(location, format="parquet", partitioning="hive")
    t = dataset.to_table()
    check(t.num_rows == written, f"pyarrow read {t.num_rows} rows, the generator wrote {written} good lines")
    check(t.schema.field("ts").type == pa.timestamp("us", tz="UTC"), str(t.schema.field("ts").type))
    bad = 0
    for ts, dt, hr in zip(t["ts"].to_pylist(), t["dt"].to_pylist(), t["hr"].to_pylist()):
        utc = ts.astimezone(timezone.utc)
        if str(dt) != utc.strftime("%Y-%m-%d") or int(hr) != utc.hour:
            bad += 1
    check(bad == 0, f"pyarrow: {bad} rows whose dt/hr differ from ts")

    # DuckDB: hive_partitioning over the same files.
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    n, mismatched = con.execute(
        f"""
        SELECT count(*),
               count(*) FILTER (WHERE strftime(ts, '%Y-%m-%d') <> CAST(dt AS VARCHAR)
                                   OR CAST(strftime(ts, '%H') AS INTEGER) <> CAST(hr AS INTEGER))
        FROM read_parquet('{location}/**/*.parquet', hive_partitioning = true)
        """
    ).fetchone()
    check(n == written, f"duckdb read {n} rows, the generator wrote {written} good lines")
    check(mismatched == 0, f"duckdb: {mismatched} rows whose dt/hr differ from ts")
    levels = {r[0] for r in con.execute(
        f"SELECT DISTINCT level FROM read_parquet('{location}/**/*.parquet')").fetchall()}
    check(levels <= {"TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL", None}, str(levels))
    print(f"readers ok: pyarrow {pa.__version__} and duckdb {duckdb.__version__} read "
          f"{written} rows; dt/hr match ts on every row")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import pymain
    pymain.run(main, Mismatch)
