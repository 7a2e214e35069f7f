"""POST each event as JSON to a URL (Slack-style incoming webhooks, a team's own receiver).

The standard library only: notifications are core, and core never imports urllib3. Three
attempts with backoff for what may pass (connection refused, timeouts, 429, 5xx); a 4xx
other than 408/429 says the request itself is wrong, so it is not sent again.
"""

from __future__ import annotations

import socket
import urllib.error
import urllib.parse
import urllib.request
from typing import IO

from ddbmigrate.clock import SystemClock
from ddbmigrate.errors import ConfigError
from ddbmigrate.notify.events import NotificationError, RunEvent
from ddbmigrate.ports import Clock

TIMEOUT = 5.0
ATTEMPTS = 3
BACKOFF = 1.0
"""Seconds before the second attempt; doubled before each later one."""
RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
USER_AGENT = "ddbmigrate-notify/1"
_BODY_SNIPPET = 200


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """urllib would turn a redirected POST into a GET without the body: refuse instead."""

    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def redact(url: str) -> str:
    """The URL as messages and logs may show it: scheme, host and first path segment.

    Webhook URLs usually carry their secret in the path or query (Slack's
    ``/services/T…/B…/secret``); the run's log is uploaded and kept, so it must not hold it.
    """
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    segments = [s for s in parts.path.split("/") if s]
    path = f"/{segments[0]}" if segments else "/"
    if len(segments) > 1 or parts.query:
        path += "/…"
    return f"{parts.scheme}://{host}{path}"


class WebhookNotifier:
    """POSTs ``event.to_json()`` with ``Content-Type: application/json``; 2xx is success."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float = TIMEOUT,
        attempts: int = ATTEMPTS,
        backoff: float = BACKOFF,
        clock: Clock | None = None,
    ) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(
                f"--notify-webhook {redact(url)!r} is not an http:// or https:// URL",
                hint="pass the receiver's full URL, e.g. https://hooks.example.com/ddbmigrate",
            )
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        self.url = url
        self.target = f"webhook {redact(url)}"
        self.timeout = timeout
        self.attempts = attempts
        self.backoff = backoff
        self.clock: Clock = clock or SystemClock()

    def send(self, event: RunEvent) -> None:
        body = event.to_json().encode("utf-8")
        error: NotificationError | None = None
        for attempt in range(self.attempts):
            if attempt:
                self.clock.sleep(self.backoff * 2 ** (attempt - 1))
            error, retry = self._post(body)
            if error is None:
                return
            if not retry:
                raise error
        assert error is not None
        if self.attempts == 1:
            raise error
        raise NotificationError(
            f"{error.message} (after {self.attempts} attempts)", hint=error.hint
        )

    def _post(self, body: bytes) -> tuple[NotificationError | None, bool]:
        """One POST: (None, _) on 2xx, else the error and whether another attempt may help."""
        request = urllib.request.Request(  # noqa: S310 - scheme checked in __init__
            self.url,
            data=body,
            method="POST",
            headers={"Content-Type": "application/json", "User-Agent": USER_AGENT},
        )
        try:
            with _OPENER.open(request, timeout=self.timeout) as response:
                status = int(response.status)
                if 200 <= status < 300:
                    return None, False
                return self._status_error(status, response), status in RETRY_STATUSES
        except urllib.error.HTTPError as exc:  # urllib raises for >= 400 (and unfollowed 3xx)
            with exc:
                return self._status_error(exc.code, exc), exc.code in RETRY_STATUSES
        except (urllib.error.URLError, OSError) as exc:
            return self._connection_error(exc), True

    def _status_error(self, status: int, response: IO[bytes]) -> NotificationError:
        snippet = _snippet(response)
        said = f": {snippet}" if snippet else ""
        return NotificationError(
            f"{self.target} answered {status}{said}", hint=_status_hint(status)
        )

    def _connection_error(self, exc: BaseException) -> NotificationError:
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        if isinstance(reason, TimeoutError | socket.timeout):
            return NotificationError(
                f"{self.target} did not answer within {self.timeout:g} s",
                hint="check that the receiver is up and answers quickly (queue the work, "
                "answer 2xx at once)",
            )
        if isinstance(reason, socket.gaierror):
            return NotificationError(
                f"{self.target}: host not found ({reason})",
                hint="check the host name in --notify-webhook and this machine's DNS",
            )
        if isinstance(reason, ConnectionRefusedError):
            return NotificationError(
                f"{self.target} refused the connection",
                hint="check the URL's host and port and that the receiver is running",
            )
        return NotificationError(
            f"{self.target} could not be reached: {reason}",
            hint="check the URL, the network path (proxy, firewall) and the receiver's TLS "
            "certificate",
        )


def _status_hint(status: int) -> str:
    if 300 <= status < 400:
        return "the receiver redirects; pass the final URL in --notify-webhook"
    if status in (401, 403):
        return (
            "the receiver refused the request: check the URL's token or the receiver's "
            "authentication settings"
        )
    if status in (404, 405, 410):
        return "check the URL: the receiver has no POST endpoint there"
    if status in (429, 408) or status >= 500:
        return "the receiver failed or is overloaded; check the receiver's logs"
    return "check the URL or the receiver: it refused the JSON body"


def _snippet(response: IO[bytes]) -> str:
    """The start of the receiver's answer, on one line: it often says what is wrong."""
    try:
        raw = response.read(_BODY_SNIPPET + 1)
    except (OSError, ValueError):
        return ""
    text = " ".join(raw.decode("utf-8", "replace").split())
    return text if len(text) <= _BODY_SNIPPET else text[:_BODY_SNIPPET] + "…"
