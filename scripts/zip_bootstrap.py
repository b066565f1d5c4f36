#!/usr/bin/env python3
"""Writes a Lambda custom-runtime zip: one executable `bootstrap` (mode 0755) with a fixed
timestamp, so the same binary always gives the same zip (and Terraform's source_code_hash does
not change). Python's zipfile, so no zip tool is needed.

Usage: zip_bootstrap.py BINARY ZIP   (scripts/package.sh, scripts/e2e.sh)
"""

import sys
import zipfile


def main(src, dst):
    info = zipfile.ZipInfo("bootstrap", date_time=(1980, 1, 1, 0, 0, 0))
    info.external_attr = 0o100755 << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    with open(src, "rb") as f, zipfile.ZipFile(dst, "w") as z:
        z.writestr(info, f.read(), compresslevel=9)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: zip_bootstrap.py BINARY ZIP")
    main(sys.argv[1], sys.argv[2])
