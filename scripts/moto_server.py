"""The moto server, with each DynamoDB (and DynamoDB Streams) request applied atomically.

DynamoDB applies a single-item update atomically and a transaction serialisably. moto's server
runs requests on threads without a lock around its tables: two concurrent ADDs to one item can
lose one, and TransactWriteItems deep-copies the table while a concurrent read inserts into it
(its items are a defaultdict), failing with a 500 ("dictionary changed size during iteration").
One lock around each DynamoDB request gives the emulator DynamoDB's semantics; SQS and SNS stay
concurrent (long polls must not hold anything up). DynamoDB requests are short, so the lock
costs little.

scripts/setup.sh installs it as .venv/bin/gateway-moto-server, which the tests (testkit) and the
offline run (gateway-local) start; its arguments are moto_server's own.
"""

import sys
import threading

import moto.dynamodb.responses as dynamodb
import moto.dynamodbstreams.responses as dynamodbstreams
import moto.server

_one_at_a_time = threading.RLock()


def _atomic(call_action):
    def call_action_atomically(self):
        with _one_at_a_time:
            return call_action(self)

    return call_action_atomically


dynamodb.DynamoHandler.call_action = _atomic(dynamodb.DynamoHandler.call_action)
dynamodbstreams.DynamoDBStreamsHandler.call_action = _atomic(
    dynamodbstreams.DynamoDBStreamsHandler.call_action
)

moto.server.main(sys.argv[1:])
