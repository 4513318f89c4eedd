"""boto3's bedrock-runtime client with endpoint_url set to the gateway: converse and converse_stream.
Usage: boto3_bedrock.py BASE_URL. Exits non-zero on any mismatch."""
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
model = "anthropic.claude-3-5-haiku-20241022-v1:0"
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
