"""Red-team attacks on scripts/moto_server.py: its TransactWriteItems rollback of only the
touched items, and its kept-alive connections. Each `attack_*` is an attack that must not work
(DynamoDB's semantics, or an answer per request); it fails while the attack works. The
`regression_*` ones are attacks that did not work, kept.

Run: .venv/bin/python scripts/tests/moto_server_attacks.py [name ...]
(MOTO_SERVER_SCRIPT=path runs them against another version of the wrapper.)
It starts the wrapper on a free port and stops it at the end; exit status 1 if any check failed.
"""

import os
import socket
import subprocess
import sys
import threading
import time
import traceback
import uuid

import boto3
from botocore.config import Config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PORT = None
# Another wrapper to run the same checks against (e.g. an older version of it).
SERVER = os.environ.get("MOTO_SERVER_SCRIPT", os.path.join(ROOT, "scripts", "moto_server.py"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def client(service):
    return boto3.client(
        service,
        endpoint_url=f"http://127.0.0.1:{PORT}",
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
        config=Config(retries={"max_attempts": 1}),
    )


def table(range_key=False, gsi=False, stream=True):
    """A new table: (name, ARN)."""
    ddb = client("dynamodb")
    name = f"t-{uuid.uuid4().hex[:8]}"
    keys = [{"AttributeName": "pk", "KeyType": "HASH"}]
    attrs = [{"AttributeName": "pk", "AttributeType": "S"}]
    if range_key:
        keys.append({"AttributeName": "sk", "KeyType": "RANGE"})
        attrs.append({"AttributeName": "sk", "AttributeType": "S"})
    extra = {}
    if gsi:
        attrs.append({"AttributeName": "g", "AttributeType": "S"})
        extra["GlobalSecondaryIndexes"] = [
            {
                "IndexName": "by-g",
                "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            }
        ]
    if stream:
        extra["StreamSpecification"] = {
            "StreamEnabled": True,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        }
    described = ddb.create_table(
        TableName=name,
        KeySchema=keys,
        AttributeDefinitions=attrs,
        BillingMode="PAY_PER_REQUEST",
        **extra,
    )
    return name, described["TableDescription"]["TableArn"]


def stream_events(name):
    ddb, streams = client("dynamodb"), client("dynamodbstreams")
    arn = ddb.describe_table(TableName=name)["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]
    iterator = streams.get_shard_iterator(
        StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    records = streams.get_records(ShardIterator=iterator)["Records"]
    return [(r["eventName"], r["dynamodb"]["Keys"]) for r in records]


def cancelled(items):
    ddb = client("dynamodb")
    try:
        ddb.transact_write_items(TransactItems=items)
    except ddb.exceptions.TransactionCanceledException as e:
        return e.response["CancellationReasons"]
    raise AssertionError("the transaction was not cancelled")


def failing_check(table_name):
    return {
        "ConditionCheck": {
            "TableName": table_name,
            "Key": {"pk": {"S": "absent"}},
            "ConditionExpression": "attribute_exists(pk)",
        }
    }


# --- The rollback --------------------------------------------------------------------------


def attack_a_cancelled_transaction_naming_its_table_by_arn_leaves_no_item():
    """DynamoDB takes a table's ARN wherever it takes its name. The rollback saves the items of
    the tables it finds by name only (moto's own whole-table copy did the same), while moto
    applies the writes to the table it finds by ARN: the Put of a cancelled transaction stays."""
    name, arn = table()
    reasons = cancelled(
        [{"Put": {"TableName": arn, "Item": {"pk": {"S": "new"}}}}, failing_check(arn)]
    )
    assert reasons[1]["Code"] == "ConditionalCheckFailed", reasons
    item = client("dynamodb").get_item(TableName=name, Key={"pk": {"S": "new"}}).get("Item")
    assert item is None, f"a cancelled transaction wrote {item}"


def attack_a_cancelled_transaction_naming_its_table_by_arn_leaves_no_stream_record():
    """The same transaction: its INSERT stays on the table's stream, where a consumer (the
    stream-driven functions) would act on a write that never happened."""
    name, arn = table()
    cancelled([{"Put": {"TableName": arn, "Item": {"pk": {"S": "new"}}}}, failing_check(arn)])
    events = stream_events(name)
    assert events == [], f"a cancelled transaction left stream records: {events}"


def regression_a_cancelled_transaction_restores_every_touched_item():
    """By name, on a table with a sort key and a GSI: a Put that creates an item, an Update
    that creates one, an Update and a Delete of existing items, then a failing ConditionCheck.
    Afterwards every item is as it was, the GSI finds what it found, the stream holds only
    the setup's records."""
    name, _ = table(range_key=True, gsi=True)
    ddb = client("dynamodb")
    key = lambda pk: {"pk": {"S": pk}, "sk": {"S": "s"}}  # noqa: E731
    for pk in ("kept", "gone"):
        ddb.put_item(TableName=name, Item={**key(pk), "g": {"S": "old"}, "n": {"N": "1"}})
    before = stream_events(name)
    reasons = cancelled(
        [
            {"Put": {"TableName": name, "Item": {**key("new"), "g": {"S": "old"}}}},
            {
                "Update": {
                    "TableName": name,
                    "Key": key("upserted"),
                    "UpdateExpression": "SET g = :g",
                    "ExpressionAttributeValues": {":g": {"S": "old"}},
                }
            },
            {
                "Update": {
                    "TableName": name,
                    "Key": key("kept"),
                    "UpdateExpression": "SET g = :g ADD n :one",
                    "ExpressionAttributeValues": {":g": {"S": "new"}, ":one": {"N": "1"}},
                }
            },
            {"Delete": {"TableName": name, "Key": key("gone")}},
            {
                "ConditionCheck": {
                    "TableName": name,
                    "Key": key("absent"),
                    "ConditionExpression": "attribute_exists(pk)",
                }
            },
        ]
    )
    assert [r["Code"] for r in reasons][-1] == "ConditionalCheckFailed", reasons
    items = sorted(
        (i["pk"]["S"], i["g"]["S"], i["n"]["N"]) for i in ddb.scan(TableName=name)["Items"]
    )
    assert items == [("gone", "old", "1"), ("kept", "old", "1")], items
    by_g = ddb.query(
        TableName=name,
        IndexName="by-g",
        KeyConditionExpression="g = :g",
        ExpressionAttributeValues={":g": {"S": "old"}},
    )["Items"]
    assert sorted(i["pk"]["S"] for i in by_g) == ["gone", "kept"], by_g
    assert ddb.describe_table(TableName=name)["Table"]["ItemCount"] == 2
    assert stream_events(name) == before, stream_events(name)
    # Two operations on one item: refused as a whole (a ValidationException), nothing written.
    try:
        ddb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": name, "Item": {**key("twice"), "g": {"S": "a"}}}},
                {"Put": {"TableName": name, "Item": {**key("other"), "g": {"S": "a"}}}},
                {"Put": {"TableName": name, "Item": {**key("twice"), "g": {"S": "b"}}}},
            ]
        )
        raise AssertionError("two operations on one item were accepted")
    except ddb.exceptions.ClientError as e:
        assert e.response["Error"]["Code"] == "ValidationException", e.response
    assert len(ddb.scan(TableName=name)["Items"]) == 2
    assert stream_events(name) == before


def regression_concurrent_transactions_and_reads_stay_serialisable():
    """Eight clients, each on its own kept connection, move one unit at a time between two
    counters in transactions (half of them cancelled by a failing check) while reading:
    the total never changes."""
    name, _ = table(stream=False)
    ddb = client("dynamodb")
    for pk in ("a", "b"):
        ddb.put_item(TableName=name, Item={"pk": {"S": pk}, "n": {"N": "1000"}})
    errors = []

    def move(i):
        mine = client("dynamodb")
        try:
            for j in range(25):
                src, dst = ("a", "b") if (i + j) % 2 else ("b", "a")
                items = [
                    {
                        "Update": {
                            "TableName": name,
                            "Key": {"pk": {"S": src}},
                            "UpdateExpression": "ADD n :minus",
                            "ExpressionAttributeValues": {":minus": {"N": "-1"}},
                        }
                    },
                    {
                        "Update": {
                            "TableName": name,
                            "Key": {"pk": {"S": dst}},
                            "UpdateExpression": "ADD n :one",
                            "ExpressionAttributeValues": {":one": {"N": "1"}},
                        }
                    },
                ]
                if j % 2:
                    items.append(failing_check(name))
                try:
                    mine.transact_write_items(TransactItems=items)
                except mine.exceptions.TransactionCanceledException:
                    pass
                got = mine.batch_get_item(
                    RequestItems={name: {"Keys": [{"pk": {"S": "a"}}, {"pk": {"S": "b"}}]}}
                )["Responses"][name]
                total = sum(int(i["n"]["N"]) for i in got)
                if total != 2000:
                    errors.append(total)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=move, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:5]


# --- Kept-alive connections ----------------------------------------------------------------


def list_tables_request(chunked=False, chunk_extension=b"", trailer=b""):
    head = (
        b"POST / HTTP/1.1\r\nHost: localhost\r\n"
        b"X-Amz-Target: DynamoDB_20120810.ListTables\r\n"
        b"Content-Type: application/x-amz-json-1.0\r\n"
        b"Authorization: AWS4-HMAC-SHA256 Credential=x/20240101/us-east-1/dynamodb/aws4_request,"
        b" SignedHeaders=host, Signature=x\r\n"
    )
    body = b"{}"
    if not chunked:
        return head + b"Content-Length: 2\r\n\r\n" + body
    return (
        head
        + b"Transfer-Encoding: chunked\r\n\r\n"
        + b"2"
        + chunk_extension
        + b"\r\n"
        + body
        + b"\r\n0\r\n"
        + trailer
        + b"\r\n"
    )


def read_response(f):
    """(status code, headers, body) of one response, or None at the end of the connection."""
    status = f.readline()
    if not status:
        return None
    if not status.startswith(b"HTTP/"):
        # Not a response at all (http.server answers an HTTP/0.9 "request" with a bare body).
        return 0, {}, status + f.read()
    headers = {}
    while True:
        line = f.readline()
        if line in (b"\r\n", b""):
            break
        k, v = line.decode("latin1").split(":", 1)
        headers[k.strip().lower()] = v.strip()
    if "content-length" in headers:
        body = f.read(int(headers["content-length"]))
    elif headers.get("transfer-encoding") == "chunked":
        body = b""
        while True:
            n = int(f.readline().strip(), 16)
            if n == 0:
                f.readline()
                break
            body += f.read(n)
            f.readline()
    else:
        body = f.read()
    return int(status.split()[1]), headers, body


def second_request_answered(first):
    """Sends `first`, reads its answer, then (as a client keeping the connection) sends a
    ListTables: its answer must be that ListTables', or the server must have said it closes."""
    with socket.create_connection(("127.0.0.1", PORT)) as s:
        s.settimeout(5)
        f = s.makefile("rb")
        s.sendall(first)
        answer = read_response(f)
        assert answer is not None, "no answer to the first request"
        if answer[1].get("connection", "").lower() == "close":
            return
        time.sleep(0.2)
        s.sendall(list_tables_request())
        second = read_response(f)
        assert second is not None, f"connection dropped without Connection: close ({answer[0]})"
        code, _, body = second
        assert code == 200 and b"TableNames" in body, (
            f"the second request got someone else's answer: {code} {body[:200]!r}"
        )


def attack_a_chunked_request_with_a_trailer_does_not_desync_the_connection():
    """Trailers are legal in a chunked body (RFC 9112 7.1.2; the AWS SDKs send checksums in
    them). werkzeug cannot read them and answers 500; the connection, kept, then parses the
    trailer as a request and answers that too: the client's next request on the connection
    reads that stray 400 as its own answer."""
    second_request_answered(
        list_tables_request(chunked=True, trailer=b"X-Amz-Checksum-Crc32: AAAAAA==\r\n")
    )


def attack_a_chunk_extension_does_not_desync_the_connection():
    """Chunk extensions are legal (RFC 9112 7.1.1); werkzeug refuses them, and what is left of
    the body is read as the next request."""
    second_request_answered(list_tables_request(chunked=True, chunk_extension=b";a=b"))


def regression_unread_oversized_and_chunked_bodies_leave_the_connection_usable():
    """A body the application never reads (moto-api's GET), a 5 MB body, an unparseable one,
    a plain chunked one, and 100-continue: each followed by a request on the same connection,
    which gets its own answer."""
    second_request_answered(
        b"GET /moto-api/data.json HTTP/1.1\r\nHost: localhost\r\nContent-Length: 20\r\n\r\n"
        + b"x" * 20
    )
    body = b'{"x": "' + b"a" * 5_000_000 + b'"}'
    big = list_tables_request().replace(b"Content-Length: 2\r\n\r\n{}", b"")
    second_request_answered(big + b"Content-Length: %d\r\n\r\n" % len(body) + body)
    second_request_answered(
        list_tables_request().replace(b"Content-Length: 2\r\n\r\n{}", b"Content-Length: 2\r\n\r\n{x")
    )
    second_request_answered(list_tables_request(chunked=True))


def main(names):
    global PORT
    PORT = free_port()
    server = subprocess.Popen(
        [sys.executable, SERVER, "-p", str(PORT)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", PORT)).close()
                break
            except OSError:
                time.sleep(0.1)
        tests = [
            (n, f)
            for n, f in globals().items()
            if n.startswith(("attack_", "regression_")) and callable(f)
        ]
        if names:
            tests = [(n, f) for n, f in tests if any(x in n for x in names)]
        failed = 0
        for n, f in tests:
            try:
                f()
                print(f"ok      {n}")
            except Exception:  # noqa: BLE001 - a failed check
                failed += 1
                print(f"FAILED  {n}\n{traceback.format_exc()}")
        print(f"{len(tests) - failed} passed, {failed} failed")
        return 1 if failed else 0
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
