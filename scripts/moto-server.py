"""moto's server for the test suite, with one difference: requests are handled one at a time.

AWS services apply each request atomically (a DynamoDB conditional write or transaction is
serializable), but moto's threaded server checks a condition and writes the item in separate
steps without a lock, so two concurrent claims can both "succeed". The trigger's tests send
concurrent claims on purpose; this wrapper keeps connections threaded but runs the application
under one lock, so the emulator keeps the guarantee the real service gives.

Usage: python scripts/moto-server.py -H 127.0.0.1 -p PORT
"""

import argparse
import os
import threading

from moto.server import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import run_simple


def serialized(app):
    lock = threading.Lock()

    def handle(environ, start_response):
        with lock:
            return list(app(environ, start_response))

    return handle


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-H", "--host", default="127.0.0.1")
    p.add_argument("-p", "--port", type=int, required=True)
    a = p.parse_args()
    os.environ.setdefault("MOTO_PORT", str(a.port))
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(a.host, a.port, serialized(app), threaded=True,
               request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
