"""How every Python test script ends: its verdict, then an exit that skips interpreter teardown.

pyarrow and DuckDB keep native thread pools. When CPython finalises with one of their workers
still alive, libstdc++ aborts the process ("terminate called without an active exception",
SIGABRT) after the test has already passed: apache/arrow#34314, a flake seen in our own CI
after the soak printed its "ok". The verdict is decided before teardown, so the exit code is
taken from it and teardown is skipped with `os._exit`, after flushing what was printed.
"""

import os
import sys


def run(main, failure):
    """Run `main()`; exit 0 (or its int result), or 1 with "FAILED: …" when it raises `failure`.

    Any other exception is a bug in the test: its traceback is printed and the exit code is 2.
    """
    try:
        code = main() or 0
    except failure as e:
        print(f"FAILED: {e}", file=sys.stderr)
        code = 1
    except BaseException:  # noqa: B036 - printed, then the process ends with a failure code
        import traceback
        traceback.print_exc()
        code = 2
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
