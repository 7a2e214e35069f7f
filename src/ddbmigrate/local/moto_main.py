"""``python -m ddbmigrate.local.moto_main``: moto's server with S3's bucket-owner check.

moto (5.2) ignores ``ExpectedBucketOwner``; AWS answers 403 AccessDenied when the header
names an account other than the bucket's owner. Without that check the embedded AWS could
not prove the tool's ownership guard (``--bucket-owner``, ADR 0017), so this module serves
moto's own WSGI application behind a thin layer that does what AWS does, reading the
owner from moto's own bucket registry in this same process.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterable
from typing import Any

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from moto.s3.models import s3_backends
from werkzeug.serving import run_simple

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

_DENIED = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b"<Error><Code>AccessDenied</Code><Message>Access Denied</Message>"
    b"<RequestId>ddbmigrate-local</RequestId><HostId>ddbmigrate-local</HostId></Error>"
)


def bucket_owner(bucket: str) -> str | None:
    """The account that owns ``bucket`` in moto, or None when no such bucket exists."""
    entry = s3_backends.bucket_accounts.get(bucket)
    return None if entry is None else str(entry[1])


def wrong_owner(environ: dict[str, Any]) -> bool:
    """True when the request names an expected owner and the bucket belongs to another.

    Only path-style addressing is read (what the tool uses against an emulator); an
    unknown bucket passes through so moto answers NoSuchBucket as AWS would.
    """
    expected = environ.get("HTTP_X_AMZ_EXPECTED_BUCKET_OWNER")
    if not expected or not _path_style(str(environ.get("HTTP_HOST", ""))):
        return False
    bucket = str(environ.get("PATH_INFO", "")).lstrip("/").split("/", 1)[0]
    owner = bucket_owner(bucket) if bucket else None
    return owner is not None and owner != expected


def _path_style(host: str) -> bool:
    """A loopback host names no bucket: the bucket is the path's first segment."""
    name = host if host.endswith("]") else host.rsplit(":", 1)[0]
    return name in ("localhost", "[::1]", "") or name.replace(".", "").isdigit()


def with_owner_check(app: WSGIApp) -> WSGIApp:
    """``app`` behind S3's ExpectedBucketOwner check."""

    def checked(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if not wrong_owner(environ):
            return app(environ, start_response)
        body = b"" if environ.get("REQUEST_METHOD") == "HEAD" else _DENIED
        start_response(
            "403 Forbidden",
            [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))],
        )
        return [body]

    return checked


def main(argv: list[str] | None = None) -> None:
    """Serve like ``python -m moto.server -H HOST -p PORT`` (threaded, moto's handler)."""
    parser = argparse.ArgumentParser(prog="ddbmigrate.local.moto_main")
    parser.add_argument("-H", dest="host", default="127.0.0.1")  # as moto.server -H
    parser.add_argument("-p", dest="port", type=int, required=True)
    parser.add_argument("--until-stdin-closes", action="store_true")
    args = parser.parse_args(argv)
    os.environ.setdefault("MOTO_PORT", str(args.port))  # moto builds some URLs from it
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    if args.until_stdin_closes:
        _serve_the_parent()
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(
        args.host,
        args.port,
        with_owner_check(app),
        threaded=True,
        request_handler=MotoRequestHandler,
    )


def _serve_the_parent() -> None:
    """Live exactly as long as the parent holds our stdin open.

    A Ctrl-C or a SIGTERM sent to the terminal's process group reaches this server too;
    dying at once would take the embedded AWS away while the tool is still stopping (its
    ledger and lock are written there), and every last call would retry against a closed
    port. So signals are ignored, and the server ends when its parent closes the pipe: on
    ``MotoServer.stop``, or when the parent dies in any way (SIGKILL included), which
    leaves no orphan server behind."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)

    def watch() -> None:
        sys.stdin.buffer.read()  # returns at EOF: the parent closed it or is gone
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


if __name__ == "__main__":
    main()
