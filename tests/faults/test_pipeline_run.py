"""A three-table pipeline file, one table failing at import, then resumed to success.

Through the fault proxy, every BatchWriteItem into one destination table is throttled until
its retries run out: that table fails while the other two finish and validate. The same
pipeline run again finishes the failed table (its run resumes at the import step) and does
not run the finished ones again. Success and failure events arrive by SNS (read from an SQS
queue subscribed to the topic) and by webhook; report.json, run.log and the HTML report are
written.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
from fault_proxy import FaultKind, FaultProxy

from ddbmigrate.cli.app import main
from ddbmigrate.cli.exit_codes import ExitCode
from ddbmigrate.local.demo_data import customer_items
from ddbmigrate.local.env import BUCKET, DEST_ROLE, SOURCE_ROLE, LocalAWS, bootstrap
from ddbmigrate.local.server import MotoServer
from itemcompare import assert_same_items, dynamodb_client
from localhttp import serving
from tables import make_customer_table

pytestmark = pytest.mark.faults


class _Hook(BaseHTTPRequestHandler):
    received: list[dict[str, Any]]

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        self.received.append(json.loads(self.rfile.read(length)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []
    handler = type("Hook", (_Hook,), {"received": received})
    with serving(handler) as port:
        yield f"http://127.0.0.1:{port}/hook", received


@pytest.fixture
def local_aws(moto_server: MotoServer, aws_env: None) -> LocalAWS:
    env = LocalAWS(endpoint_url=moto_server.endpoint_url)
    bootstrap(env)  # idempotent
    return env


def _tables(env: LocalAWS, prefix: str) -> list[str]:
    names = [f"{prefix}-{n}" for n in ("a", "b", "c")]
    for name in names:
        make_customer_table(
            env,
            name,
            items=customer_items(150, seed=len(name)),
            BillingMode="PROVISIONED",
            ProvisionedThroughput={"ReadCapacityUnits": 5000, "WriteCapacityUnits": 5000},
        )
    return names


def _sns_queue(env: LocalAWS) -> tuple[str, Any, str]:
    sns = env.client(DEST_ROLE, "sns")
    sqs = env.client(DEST_ROLE, "sqs")
    topic = sns.create_topic(Name=f"migrations-{uuid.uuid4().hex[:6]}")["TopicArn"]
    queue_url = sqs.create_queue(QueueName=f"events-{uuid.uuid4().hex[:6]}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    return topic, sqs, queue_url


def _sns_events(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    events = []
    while True:
        got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)
        messages = got.get("Messages", [])
        if not messages:
            return events
        for message in messages:
            body = json.loads(message["Body"])
            events.append(json.loads(body["Message"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


def test_a_failed_table_resumes_while_the_others_finish(
    local_aws: LocalAWS,
    fault_proxy: FaultProxy,
    webhook: tuple[str, list[dict[str, Any]]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    prefix = f"pipe-{uuid.uuid4().hex[:6]}"
    a, b, c = _tables(local_aws, prefix)
    topic, sqs, queue_url = _sns_queue(local_aws)
    hook_url, hook_events = webhook
    logs = tmp_path / "logs"
    pipeline = tmp_path / "pipeline.yaml"
    pipeline.write_text(
        f"""\
version: 1
source:
  role_arn: {local_aws.source.role_arn}
  endpoint_url: {fault_proxy.url}
  region: us-east-1
destination:
  role_arn: {local_aws.dest.role_arn}
  endpoint_url: {fault_proxy.url}
  region: us-east-1
staging: s3://{BUCKET}/{prefix}/
tables:
  - {a}
  - name: {b}
    to: {b}-copy
  - glob: "{prefix}-c*"
retries:
  import: 1
parallel_tables: 3
notify:
  sns: {topic}
  webhook: {hook_url}
log_location: {logs}
report_html: {tmp_path / "report.html"}
"""
    )
    # Every write into b's copy is throttled until the retries of one request run out.
    fault_proxy.inject(
        FaultKind.THROUGHPUT_EXCEEDED, operations="BatchWriteItem", tables=[f"{b}-copy"]
    )

    first = main(["run", str(pipeline), "--progress", "off"])

    out = capsys.readouterr()
    assert first == ExitCode.FAILURE, out.err
    assert f"match     {a} -> {a}" in out.out
    assert f"match     {c} -> {c}" in out.out
    assert f"failed    {b} -> {b}-copy" in out.out
    assert "error: 1 of 3 tables did not finish cleanly" in out.err

    fault_proxy.clear_faults()
    second = main(["run", str(pipeline), "--progress", "off"])

    out = capsys.readouterr()
    assert second == ExitCode.OK, out.err
    assert f"match     {b} -> {b}-copy" in out.out
    assert f"done      {a} -> {a} (finished earlier in run" in out.out
    assert f"[{b}] resuming run" in out.err
    source, dest = (dynamodb_client(local_aws.endpoint_url, r) for r in (SOURCE_ROLE, DEST_ROLE))
    for table, copy in ((a, a), (b, f"{b}-copy"), (c, c)):  # judged by the test, not the tool
        assert_same_items(source, table, dest, copy, count=150)

    by_sns = _sns_events(sqs, queue_url)
    kinds = sorted((e["kind"], e["source_table"]) for e in by_sns)
    assert kinds == sorted([("success", a), ("success", c), ("failure", b), ("success", b)]), by_sns
    failure = next(e for e in by_sns if e["kind"] == "failure")
    assert failure["error"]["message"]
    assert sorted((e["kind"], e["source_table"]) for e in hook_events) == kinds

    reports = list(logs.rglob("report.json"))
    assert len(reports) == 2, reports
    assert list(logs.rglob("run.log"))
    last = json.loads(max(reports, key=lambda p: p.stat().st_mtime).read_text())
    assert last["outcome"] == "success"
    html = (tmp_path / "report.html").read_text()
    assert "<svg" in html
    assert b in html
