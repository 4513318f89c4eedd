"""boto3's bedrock-runtime client with endpoint_url set to the gateway: converse, converse_stream
and count_tokens.
Usage: boto3_bedrock.py BASE_URL. Exits non-zero on any mismatch."""
import json
import sys

import boto3
from botocore.config import Config

client = boto3.client(
    "bedrock-runtime",
    endpoint_url=sys.argv[1],
    region_name="us-east-1",
    aws_access_key_id="test",
    aws_secret_access_key="test",
    config=Config(retries={"max_attempts": 1}),
)
model = "anthropic.claude-haiku-4-5-20251001-v1:0"
messages = [{"role": "user", "content": [{"text": "Hello from boto3"}]}]

reply = client.converse(modelId=model, messages=messages)
assert reply["output"]["message"]["content"][0]["text"], reply
assert reply["usage"]["totalTokens"] > 0
print("converse ok")

text, stop = [], None
for event in client.converse_stream(modelId=model, messages=messages)["stream"]:
    if "contentBlockDelta" in event:
        text.append(event["contentBlockDelta"]["delta"]["text"])
    if "messageStop" in event:
        stop = event["messageStop"]["stopReason"]
assert "".join(text) == reply["output"]["message"]["content"][0]["text"], (text, reply)
assert stop == "end_turn"
print("converse_stream ok")

# CountTokens (bedrock-runtime's count_tokens, botocore 1.40+), both input forms.
counted = client.count_tokens(modelId=model, input={"converse": {"messages": messages}})
assert counted["inputTokens"] > 0, counted
body = json.dumps({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 50,
                   "messages": [{"role": "user", "content": "Hello from boto3"}]})
invoked = client.count_tokens(modelId=model, input={"invokeModel": {"body": body}})
assert invoked["inputTokens"] > 0, invoked
print("count_tokens ok")
