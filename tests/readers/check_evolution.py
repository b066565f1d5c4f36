"""Files written before a column was added read it as null (README, "Schema changes").

Reads a table folder holding Parquet files of two schema versions with pyarrow (the dataset's
schema taken from a file written after the change, as the table now defines it) and DuckDB (`union_by_name`), and
checks the total row count and how many rows have the added column. Failures raise explicit
errors (they hold under python -O).

usage: check_evolution.py TABLE_DIR COLUMN ROWS ROWS_WITH_COLUMN
"""

import os
import sys
from pathlib import Path

import duckdb
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from check_readers import Mismatch, check  # the same failure type and check as the other reader test


def main() -> int:
    location, column, rows, with_column = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    files = sorted(f for f in Path(location).rglob("*.parquet")
                   if not any(part.startswith((".", "_")) for part in f.relative_to(location).parts))
    schemas = {f: pq.read_schema(f) for f in files}
    newer = [s for s in schemas.values() if column in s.names]
    check(newer and len(newer) < len(files), f"expected files with and without `{column}` in {location}")
    table = newer[0]  # the table's columns: those of the files written after the change

    t = ds.dataset([str(f) for f in files], format="parquet", schema=table).to_table()
    check(t.num_rows == rows, f"pyarrow read {t.num_rows} rows, expected {rows}")
    got = t.num_rows - t.column(column).null_count
    check(got == with_column, f"pyarrow: {got} rows with `{column}`, expected {with_column}")

    con = duckdb.connect()
    n, c = con.execute(
        f"SELECT count(*), count({column}) FROM read_parquet(?, union_by_name = true)",
        [[str(f) for f in files]],
    ).fetchone()
    check((n, c) == (rows, with_column), f"DuckDB: {n} rows, {c} with `{column}`; expected {rows}, {with_column}")
    print(f"ok: pyarrow and DuckDB read {rows} rows, {with_column} with `{column}`, over {len(files)} files")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import pymain
    pymain.run(main, Mismatch)
