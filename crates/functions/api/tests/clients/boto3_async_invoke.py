"""boto3's bedrock-runtime async API (StartAsyncInvoke, GetAsyncInvoke, ListAsyncInvokes) with
endpoint_url set to the gateway and a gateway key as Bedrock API key (AWS_BEARER_TOKEN_BEDROCK,
botocore's bearer auth); the answer read back with boto3's S3 client from the emulator. The
worker runs meanwhile (the Rust test drives it).
Usage: boto3_async_invoke.py BASE_URL API_KEY BUCKET S3_URL DENIED_API_KEY.
Prints "async invoke ok"; exits non-zero on any mismatch."""
import json
import os
import sys
import time

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

base, api_key, bucket, s3_url, denied_key = sys.argv[1:6]


def runtime(token):
    # Bedrock API keys: botocore reads the token when the client is created.
    os.environ["AWS_BEARER_TOKEN_BEDROCK"] = token
    return boto3.client(
        "bedrock-runtime",
        endpoint_url=base,
        region_name="us-east-1",
        aws_access_key_id="unused",
        aws_secret_access_key="unused",
        config=Config(retries={"max_attempts": 1}),
    )


def error(call):
    try:
        call()
    except ClientError as e:
        return (
            e.response["Error"]["Code"],
            e.response["ResponseMetadata"]["HTTPStatusCode"],
            e.response["Error"]["Message"],
        )
    raise AssertionError("the call succeeded")


client = runtime(api_key)
model_input = {
    "anthropic_version": "bedrock-2023-05-31",
    "max_tokens": 64,
    "messages": [{"role": "user", "content": "Say hello"}],
}
uri = f"s3://{bucket}/boto3"
output = {"s3OutputDataConfig": {"s3Uri": uri}}

started = client.start_async_invoke(
    modelId="haiku", modelInput=model_input, outputDataConfig=output, clientRequestToken="boto3-1"
)
arn = started["invocationArn"]
again = client.start_async_invoke(
    modelId="haiku", modelInput=model_input, outputDataConfig=output, clientRequestToken="boto3-1"
)
assert again["invocationArn"] == arn, (again, arn)

deadline = time.time() + 60
while True:
    got = client.get_async_invoke(invocationArn=arn)
    if got["status"] != "InProgress":
        break
    assert time.time() < deadline, got
    time.sleep(0.3)
assert got["status"] == "Completed", got
assert got["invocationArn"] == arn, got
assert got["clientRequestToken"] == "boto3-1", got
assert got["submitTime"] <= got["endTime"], got
assert got["outputDataConfig"]["s3OutputDataConfig"]["s3Uri"] == uri, got

s3 = boto3.client(
    "s3",
    endpoint_url=s3_url,
    region_name="us-east-1",
    aws_access_key_id="test",
    aws_secret_access_key="test",
    config=Config(s3={"addressing_style": "path"}),
)
invocation_id = arn.rsplit("/", 1)[1]
body = s3.get_object(Bucket=bucket, Key=f"boto3/{invocation_id}/output.json")["Body"].read()
answer = json.loads(body)
text = "".join(block.get("text", "") for block in answer["content"])
assert text, answer

listed = client.list_async_invokes(statusEquals="Completed", sortOrder="Descending")
assert arn in [s["invocationArn"] for s in listed["asyncInvokeSummaries"]], listed
paged = [
    s["invocationArn"]
    for page in client.get_paginator("list_async_invokes").paginate(
        PaginationConfig={"PageSize": 1}
    )
    for s in page["asyncInvokeSummaries"]
]
assert paged == [arn], paged

# A key without the model: the sync route's error, word for word.
denied = runtime(denied_key)
sync = error(lambda: denied.invoke_model(modelId="haiku", body=json.dumps(model_input)))
started_denied = error(
    lambda: denied.start_async_invoke(
        modelId="haiku", modelInput=model_input, outputDataConfig=output
    )
)
assert sync[0] == "AccessDeniedException" and sync == started_denied, (sync, started_denied)
# Another tenant's invocation: not found, as an unknown one is.
theirs = error(lambda: denied.get_async_invoke(invocationArn=arn))
unknown = error(lambda: denied.get_async_invoke(invocationArn=arn[:-12] + "zzzzzzzzzzzz"))
assert theirs[:2] == unknown[:2] == ("ResourceNotFoundException", 404), (theirs, unknown)
assert denied.list_async_invokes()["asyncInvokeSummaries"] == []
# Outside the output bucket: refused, naming the field.
outside = error(
    lambda: client.start_async_invoke(
        modelId="haiku",
        modelInput=model_input,
        outputDataConfig={"s3OutputDataConfig": {"s3Uri": "s3://someone-elses-bucket/x"}},
    )
)
assert outside[0] == "ValidationException" and "s3OutputDataConfig.s3Uri" in outside[2], outside

print(json.dumps({"arn": arn, "text": text}))
print("async invoke ok")
