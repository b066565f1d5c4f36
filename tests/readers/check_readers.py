"""Independent readers see what loglake wrote (DESIGN.md section 3).

Reads <root>/clean/<table> with pyarrow (Hive partitioning) and DuckDB (hive_partitioning),
and checks, row by row, that the partition values equal the record's UTC timestamp, that the
row count equals the summaries' records_written, and that the types are the schema's.

usage: check_readers.py ROOT TABLE SUMMARIES.jsonl
"""

import json
import sys
from datetime import timezone

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds


def main() -> int:
    root, table, summaries = sys.argv[1:4]
    written = sum(json.loads(line).get("records_written", 0) for line in open(summaries))
    location = f"{root}/clean/{table}"

    # pyarrow: Hive partitioning; files and folders starting with `_` or `.` are ignored.
    dataset = ds.dataset(location, format="parquet", partitioning="hive")
    t = dataset.to_table()
    assert t.num_rows == written, f"pyarrow read {t.num_rows} rows, summaries say {written}"
    assert t.schema.field("ts").type == pa.timestamp("us", tz="UTC"), t.schema.field("ts").type
    bad = 0
    for ts, dt, hr in zip(t["ts"].to_pylist(), t["dt"].to_pylist(), t["hr"].to_pylist()):
        utc = ts.astimezone(timezone.utc)
        if str(dt) != utc.strftime("%Y-%m-%d") or int(hr) != utc.hour:
            bad += 1
    assert bad == 0, f"pyarrow: {bad} rows whose dt/hr differ from ts"

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
    assert n == written, f"duckdb read {n} rows, summaries say {written}"
    assert mismatched == 0, f"duckdb: {mismatched} rows whose dt/hr differ from ts"
    levels = {r[0] for r in con.execute(
        f"SELECT DISTINCT level FROM read_parquet('{location}/**/*.parquet')").fetchall()}
    assert levels <= {"TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL", None}, levels
    print(f"readers ok: pyarrow {pa.__version__} and duckdb {duckdb.__version__} read "
          f"{written} rows; dt/hr match ts on every row")
    return 0


if __name__ == "__main__":
    sys.exit(main())
