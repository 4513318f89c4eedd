"""The moto server, with each DynamoDB (and DynamoDB Streams) request applied atomically.

DynamoDB applies a single-item update atomically and a transaction serialisably. moto's server
runs requests on threads without a lock around its tables: two concurrent ADDs to one item can
lose one, and TransactWriteItems deep-copies the table while a concurrent read inserts into it
(its items are a defaultdict), failing with a 500 ("dictionary changed size during iteration").
One lock around each DynamoDB request gives the emulator DynamoDB's semantics; SQS and SNS stay
concurrent (long polls must not hold anything up). DynamoDB requests are short, so the lock
costs little.

moto keeps a strong reference to every model object it ever creates (`instances_tracked`, for
its model-listing endpoint and S3's reset), and TransactWriteItems deep-copies every table it
touches for its rollback: each transaction leaked a copy of the table, so the bench's
controls-on phase grew the server by ~50 MB/s (24 GB in one run). DynamoDB's models are no
longer tracked; S3's still are (its reset closes their files through that list).

That deep copy also made every transaction cost O(table): 80 ms per request once the bench's
state table held a few thousand items. A transaction touches at most 100 items, so the rollback
keeps a copy of those items (and the stream's length) instead, and restores them on any failure
exactly as the whole-table copy did: the items as they were, no stream records.

Werkzeug's development server closes the connection after every response ("Connection: close":
http.server cannot skip a body the application left unread), so every AWS call the functions
made opened a new TCP connection, and the bench measured the functions' CPU per call with that
churn in it; DynamoDB, SQS and SNS keep connections alive. Here each request body is read to its
end after the application answered (exactly its Content-Length, or its chunks), so the next
request line is where the handler looks for it, and connections stay open. Werkzeug's own
clean-up after each response (read whatever else the socket holds, 10 ms at least) would eat the
next request on a kept connection, so it finds nothing to read.

scripts/setup.sh installs it as .venv/bin/gateway-moto-server, which the tests (testkit) and the
offline run (gateway-local) start; its arguments are moto_server's own.
"""

import copy
import sys
import threading

import moto.dynamodb.models as dynamodb_models
import moto.dynamodb.responses as dynamodb
import moto.dynamodbstreams.responses as dynamodbstreams
import moto.server
from moto.moto_server.werkzeug_app import MotoRequestHandler
import werkzeug.serving
from werkzeug.serving import run_simple
from werkzeug.wsgi import LimitedStream
from moto.core.common_models import BaseModel
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table

_one_at_a_time = threading.RLock()

_tracked_new = BaseModel.__new__


def _new_untracked_for_dynamodb(cls, *args, **kwargs):
    if cls.__module__.startswith("moto.dynamodb"):
        return object.__new__(cls)
    return _tracked_new(cls, *args, **kwargs)


BaseModel.__new__ = staticmethod(_new_untracked_for_dynamodb)


def _atomic(call_action):
    def call_action_atomically(self):
        with _one_at_a_time:
            return call_action(self)

    return call_action_atomically




class _CopyButNotTables:
    """The `copy` module as transact_write_items sees it: a table "copy" is the table itself."""

    def __getattr__(self, name):
        return getattr(copy, name)

    @staticmethod
    def deepcopy(value, memo=None):
        return value if isinstance(value, Table) else copy.deepcopy(value, memo)


dynamodb_models.copy = _CopyButNotTables()
_transact_write_items = dynamodb_models.DynamoDBBackend.transact_write_items


def _table(backend, name):
    """The table a transaction item names, by name or by ARN (as DynamoDB and moto accept)."""
    try:
        return backend.get_table(name) if isinstance(name, str) else None
    except Exception:  # no such table: moto's own validation answers it
        return None


def _item_key(table, op):
    key = op.get("Key") or op.get("Item") or {}
    hash_key = key.get(table.hash_key_attr)
    range_key = key.get(table.range_key_attr) if table.range_key_attr else None
    if hash_key is None or (table.range_key_attr and range_key is None):
        return None
    return DynamoType(hash_key), DynamoType(range_key) if range_key is not None else None


def _restore(table, hash_key, range_key, item):
    if range_key is not None:
        if item is None:
            table.items[hash_key].pop(range_key, None)
        else:
            table.items[hash_key][range_key] = item
    elif item is None:
        table.items.pop(hash_key, None)
    else:
        table.items[hash_key] = item


def transact_write_items_rolling_back_touched_items(self, transact_items):
    saved = []  # (table, hash key, range key, the item before, or None)
    streams = {}  # table name -> (table, stream length before)
    for entry in transact_items[:100]:
        op = next(iter(entry.values()), None) if isinstance(entry, dict) else None
        table = _table(self, op.get("TableName")) if isinstance(op, dict) else None
        try:
            key = _item_key(table, op) if table is not None else None
            if key is None:
                continue
            hash_key, range_key = key
            before = table.get_item(hash_key, range_key)
        except Exception:  # a malformed key: moto's own validation answers it below
            continue
        saved.append((table, hash_key, range_key, copy.deepcopy(before)))
        if table.stream_shard is not None:
            streams.setdefault(table.name, (table, len(table.stream_shard.items)))
    try:
        return _transact_write_items(self, transact_items)
    except Exception:
        for table, hash_key, range_key, item in reversed(saved):
            _restore(table, hash_key, range_key, item)
        for table, length in streams.values():
            del table.stream_shard.items[length:]
        raise


dynamodb_models.DynamoDBBackend.transact_write_items = (
    transact_write_items_rolling_back_touched_items
)



def _reading_whole_requests(app):
    def app_reading_whole_requests(environ, start_response):
        length = environ.get("CONTENT_LENGTH")
        if not environ.get("wsgi.input_terminated") and length and length.isdigit():
            environ["wsgi.input"] = LimitedStream(environ["wsgi.input"], int(length))
        try:
            return app(environ, start_response)
        finally:
            body = environ["wsgi.input"]
            if isinstance(body, LimitedStream) or environ.get("wsgi.input_terminated"):
                while body.read(65536):
                    pass

    return app_reading_whole_requests


def _send_header_keeping_alive(self, keyword, value):
    # A chunked request body may carry chunk extensions or trailers, which werkzeug cannot
    # read past: after such a request the connection closes, as werkzeug always did.
    chunked = "chunked" in (self.headers.get("Transfer-Encoding") or "").lower()
    if keyword.lower() == "connection" and value.lower() == "close" and not chunked:
        return
    _send_header(self, keyword, value)


class _NothingLeftToRead:
    """werkzeug.serving's `selectors` as its post-response clean-up sees it."""

    EVENT_READ = 1

    class DefaultSelector:
        def register(self, *args):
            pass

        def select(self, timeout=None):
            return []

        def close(self):
            pass


werkzeug.serving.selectors = _NothingLeftToRead
_send_header = MotoRequestHandler.send_header
MotoRequestHandler.send_header = _send_header_keeping_alive
# A response is written in pieces (status and headers, then the body): on a kept connection
# Nagle's algorithm would hold the body for the client's delayed ACK (40 ms).
MotoRequestHandler.disable_nagle_algorithm = True
moto.server.run_simple = lambda host, port, app, **options: run_simple(
    host, port, _reading_whole_requests(app), **options
)

dynamodb.DynamoHandler.call_action = _atomic(dynamodb.DynamoHandler.call_action)
dynamodbstreams.DynamoDBStreamsHandler.call_action = _atomic(
    dynamodbstreams.DynamoDBStreamsHandler.call_action
)

moto.server.main(sys.argv[1:])
