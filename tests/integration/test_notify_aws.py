"""Notifications for real: SNS through moto server (read back through a subscribed SQS queue)
and webhooks against a local HTTP server; every failing target is logged, never raised."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest
from botocore.stub import Stubber

from ddbmigrate.aws.session import SideSession
from ddbmigrate.aws.sns import SnsNotifier, TopicArn
from ddbmigrate.errors import ConfigError
from ddbmigrate.local.env import DEST_ACCOUNT, DEST_ROLE, LocalAWS
from ddbmigrate.local.server import MotoServer, free_port
from ddbmigrate.notify import (
    EventError,
    MultiNotifier,
    NotificationError,
    RunEvent,
    WebhookNotifier,
)
from ddbmigrate.testing import FakeClock
from localhttp import serving

pytestmark = pytest.mark.integration

THIRD_ACCOUNT = "333333333333"
OTHER_REGION = "eu-west-1"


@pytest.fixture
def aws(moto_server: MotoServer, aws_env: None) -> LocalAWS:
    # No bootstrap(): AssumeRole into DEST_ROLE works on moto without the role existing,
    # and SNS/SQS need neither the bucket nor its policy. bootstrap() refuses to run twice
    # on one server, and other files of this session call it unguarded.
    return LocalAWS(endpoint_url=moto_server.endpoint_url)


@dataclass
class Subscribed:
    topic_arn: str
    queue_url: str
    sqs: Any


def subscribed_topic(aws: LocalAWS, *, region: str | None = None, fifo: bool = False) -> Subscribed:
    """A topic in the destination account with an SQS queue subscribed to it."""
    session = aws.session(DEST_ROLE)
    region = region or aws.region
    sns = session.client("sns", endpoint_url=aws.endpoint_url, region_name=region)
    sqs = session.client("sqs", endpoint_url=aws.endpoint_url, region_name=region)
    name = f"ddbmigrate-{uuid.uuid4().hex[:8]}"
    suffix, attributes = (".fifo", {"FifoTopic": "true"}) if fifo else ("", {})
    topic = sns.create_topic(Name=name + suffix, Attributes=attributes)["TopicArn"]
    queue_attrs = {"FifoQueue": "true"} if fifo else {}
    queue_url = sqs.create_queue(QueueName=name + suffix, Attributes=queue_attrs)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    return Subscribed(topic, queue_url, sqs)


def received(sub: Subscribed) -> list[dict[str, Any]]:
    """SNS envelopes waiting in the queue."""
    answer = sub.sqs.receive_message(
        QueueUrl=sub.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=2
    )
    return [json.loads(m["Body"]) for m in answer.get("Messages", [])]


def event(kind: str = "success", **changes: Any) -> RunEvent:
    values: dict[str, Any] = {
        "kind": kind,
        "run_id": "20260101T000000Z-1a2b3c4d",
        "source_table": "customer",
        "dest_table": "customer",
        "step": None,
        "counts": {"exported_items": 1000, "imported_items": 1000},
        "duration_s": 12.5,
        "timestamp": "2026-01-01T00:00:12.500Z",
        **changes,
    }
    return RunEvent(**values)


# --- SNS ------------------------------------------------------------------------------------


def test_sns_event_reaches_a_subscribed_queue(aws: LocalAWS) -> None:
    sub = subscribed_topic(aws)
    sent = event("failure", step="import", error=EventError("denied", "grant it"))
    SnsNotifier(SideSession(aws.dest), sub.topic_arn).send(sent)
    [envelope] = received(sub)
    assert envelope["TopicArn"] == sub.topic_arn
    assert envelope["Subject"] == sent.subject()
    assert json.loads(envelope["Message"]) == json.loads(sent.to_json())
    assert envelope["MessageAttributes"]["kind"]["Value"] == "failure"


def test_sns_client_is_made_in_the_topics_region(aws: LocalAWS) -> None:
    sub = subscribed_topic(aws, region=OTHER_REGION)
    assert f":sns:{OTHER_REGION}:{DEST_ACCOUNT}:" in sub.topic_arn
    SnsNotifier(SideSession(aws.dest), sub.topic_arn).send(event())
    [envelope] = received(sub)
    assert json.loads(envelope["Message"])["kind"] == "success"


def test_sns_fifo_topic_gets_group_and_deduplication_ids(aws: LocalAWS) -> None:
    sub = subscribed_topic(aws, fifo=True)
    SnsNotifier(SideSession(aws.dest), sub.topic_arn).send(event())
    [envelope] = received(sub)
    assert json.loads(envelope["Message"])["run_id"] == "20260101T000000Z-1a2b3c4d"


def test_sns_topic_that_does_not_exist_names_the_topic_and_the_fix(aws: LocalAWS) -> None:
    arn = f"arn:aws:sns:{aws.region}:{THIRD_ACCOUNT}:ops-alerts"
    notifier = SnsNotifier(SideSession(aws.dest), arn)
    with pytest.raises(NotificationError) as info:
        notifier.send(event())
    assert info.value.message == f"SNS topic {arn} does not exist (NotFound)"
    assert info.value.hint is not None
    assert THIRD_ACCOUNT in info.value.hint
    assert aws.region in info.value.hint

    logged: list[str] = []
    MultiNotifier([notifier], on_error=logged.append).send(event())  # does not raise
    assert logged == [
        f"notification (success) not sent: SNS topic {arn} does not exist (NotFound); "
        f"{info.value.hint}"
    ]


def test_sns_topic_in_a_third_account_that_refuses_publish(aws: LocalAWS) -> None:
    """moto does not enforce topic policies: AWS's answer is stubbed on the real client."""
    arn = f"arn:aws:sns:{aws.region}:{THIRD_ACCOUNT}:ops-alerts"
    session = SideSession(aws.dest)
    notifier = SnsNotifier(session, arn)
    with Stubber(session.client("sns")) as stub:
        stub.add_client_error(
            "publish",
            service_error_code="AuthorizationError",
            service_message=f"User is not authorized to perform: SNS:Publish on resource: {arn}",
            http_status_code=403,
        )
        with pytest.raises(NotificationError) as info:
            notifier.send(event())
    assert info.value.message == (
        f"SNS topic {arn} is in account {THIRD_ACCOUNT} and refused Publish from account "
        f"{DEST_ACCOUNT} (AuthorizationError)"
    )
    assert info.value.hint == f"allow sns:Publish for role {DEST_ROLE} in the topic policy of {arn}"


def test_sns_same_account_denial_points_at_iam(aws: LocalAWS) -> None:
    arn = f"arn:aws:sns:{aws.region}:{DEST_ACCOUNT}:alerts"
    session = SideSession(aws.dest)
    with Stubber(session.client("sns")) as stub:
        stub.add_client_error(
            "publish", service_error_code="AuthorizationError", http_status_code=403
        )
        with pytest.raises(NotificationError) as info:
            SnsNotifier(session, arn).send(event())
    assert "refused Publish (AuthorizationError)" in info.value.message
    assert info.value.hint is not None
    assert info.value.hint.startswith(f"grant sns:Publish on {arn} to role {DEST_ROLE}")


@pytest.mark.parametrize(
    "arn", ["", "arn:aws:sqs:us-east-1:222222222222:q", "arn:aws:sns:us-east-1:2222:t", "topic"]
)
def test_a_wrong_topic_arn_is_a_config_error(arn: str) -> None:
    with pytest.raises(ConfigError, match="--notify-sns"):
        TopicArn.parse(arn)


# --- webhooks -------------------------------------------------------------------------------


@dataclass
class Receiver:
    """A local webhook receiver answering ``status`` (after ``delay`` seconds)."""

    status: int = 204
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)
    url: str = ""


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            state.requests.append((self.path, dict(self.headers.items()), body))
            if state.delay:
                time.sleep(state.delay)
            self.send_response(state.status)
            for name, value in state.headers.items():
                self.send_header(name, value)
            answer = b"" if state.status < 300 else b'{"error": "receiver\nbroke"}'
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: Any) -> None:
            return None

    with serving(Handler) as port:
        state.url = f"http://127.0.0.1:{port}/hooks/ddbmigrate/secret-token"
        yield state


def logged_by(notifier: WebhookNotifier) -> list[str]:
    logged: list[str] = []
    MultiNotifier([notifier], on_error=logged.append).send(event())
    return logged


def test_webhook_posts_the_event_as_json(receiver: Receiver) -> None:
    sent = event("step", step="export", counts={"items": 1000})
    WebhookNotifier(receiver.url, clock=FakeClock()).send(sent)
    [(path, headers, body)] = receiver.requests
    assert path == "/hooks/ddbmigrate/secret-token"
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body) == json.loads(sent.to_json())


def test_webhook_answering_500_is_tried_three_times_then_logged(receiver: Receiver) -> None:
    receiver.status = 500
    clock = FakeClock()
    notifier = WebhookNotifier(receiver.url, clock=clock)
    with pytest.raises(NotificationError) as info:
        notifier.send(event())
    assert len(receiver.requests) == 3
    assert clock.sleeps == [1.0, 2.0]  # backoff, on the injected clock
    port = receiver.url.split(":")[2].split("/")[0]
    assert info.value.message == (
        f'webhook http://127.0.0.1:{port}/hooks/… answered 500: {{"error": "receiver broke"}} '
        "(after 3 attempts)"
    )
    assert "secret-token" not in info.value.message
    assert info.value.hint == "the receiver failed or is overloaded; check the receiver's logs"
    [line] = logged_by(notifier)
    assert line.startswith(f"notification (success) not sent: webhook http://127.0.0.1:{port}/")
    assert "answered 500" in line
    assert line.endswith("check the receiver's logs")


def test_webhook_answering_404_is_not_tried_again(receiver: Receiver) -> None:
    receiver.status = 404
    with pytest.raises(NotificationError) as info:
        WebhookNotifier(receiver.url, clock=FakeClock()).send(event())
    assert len(receiver.requests) == 1
    assert "answered 404" in info.value.message
    assert info.value.hint == "check the URL: the receiver has no POST endpoint there"


def test_webhook_redirect_is_an_error_not_a_silent_get(receiver: Receiver) -> None:
    receiver.status = 302
    receiver.headers = {"Location": "http://127.0.0.1:1/elsewhere"}
    with pytest.raises(NotificationError, match="answered 302") as info:
        WebhookNotifier(receiver.url, clock=FakeClock()).send(event())
    assert info.value.hint is not None
    assert "final URL" in info.value.hint


def test_webhook_refusing_connections_is_logged() -> None:
    url = f"http://127.0.0.1:{free_port()}/hook"
    clock = FakeClock()
    notifier = WebhookNotifier(url, clock=clock)
    [line] = logged_by(notifier)
    assert line == (
        f"notification (success) not sent: webhook {url} refused the connection "
        "(after 3 attempts); check the URL's host and port and that the receiver is running"
    )
    assert clock.sleeps == [1.0, 2.0]


def test_webhook_that_does_not_answer_in_time(receiver: Receiver) -> None:
    receiver.delay = 1.0
    notifier = WebhookNotifier(receiver.url, timeout=0.2, attempts=1, clock=FakeClock())
    with pytest.raises(NotificationError, match=r"did not answer within 0\.2 s"):
        notifier.send(event())


def test_one_failing_target_does_not_stop_the_others(aws: LocalAWS, receiver: Receiver) -> None:
    sub = subscribed_topic(aws)
    receiver.status = 503
    logged: list[str] = []
    hook = WebhookNotifier(receiver.url, attempts=2, clock=FakeClock())
    multi = MultiNotifier(
        [hook, SnsNotifier(SideSession(aws.dest), sub.topic_arn)], on_error=logged.append
    )
    multi.send(event("failure", error=EventError("boom")))
    assert len(received(sub)) == 1
    [line] = logged
    assert "answered 503" in line
    assert "(after 2 attempts)" in line
