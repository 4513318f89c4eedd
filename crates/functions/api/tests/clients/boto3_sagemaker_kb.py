"""boto3's sagemaker-runtime and bedrock-agent-runtime clients with endpoint_url set to the
gateway: invoke_endpoint (SageMaker's wire route), retrieve and retrieve_and_generate.
Usage: boto3_sagemaker_kb.py BASE_URL ENDPOINT KB_ID MODEL [KEY_ID SECRET]: with a gateway key
as the SDK credentials, every call is SigV4-signed with it (sagemaker-runtime signs for service
`sagemaker`, bedrock-agent-runtime for `bedrock`). Exits non-zero on any mismatch."""
import json
import sys

import boto3
from botocore.config import Config

base, endpoint, kb_id, model = sys.argv[1:5]
key_id, secret = sys.argv[5:7] if len(sys.argv) > 6 else ("test", "test")
common = dict(
    endpoint_url=base,
    region_name="us-east-1",
    aws_access_key_id=key_id,
    aws_secret_access_key=secret,
    config=Config(retries={"max_attempts": 1}),
)

sagemaker = boto3.client("sagemaker-runtime", **common)
body = {"messages": [{"role": "user", "content": "reply with: boto3 through the gateway"}],
        "max_tokens": 30}
reply = sagemaker.invoke_endpoint(EndpointName=endpoint, ContentType="application/json",
                                  Body=json.dumps(body))
answer = json.loads(reply["Body"].read())
assert answer["choices"][0]["message"]["content"] == "boto3 through the gateway", answer
print("invoke_endpoint ok")

try:
    sagemaker.invoke_endpoint(EndpointName="not-served", Body=json.dumps(body))
    raise SystemExit("an endpoint the gateway does not serve was invoked")
except sagemaker.exceptions.ClientError as err:
    # 404 without an allow-list; a key with one gets 403 for every endpoint outside it,
    # served or not (no enumeration).
    expected = 404 if key_id == "test" else 403
    assert err.response["ResponseMetadata"]["HTTPStatusCode"] == expected, err.response
print("unknown endpoint ok")

agent = boto3.client("bedrock-agent-runtime", **common)
found = agent.retrieve(
    knowledgeBaseId=kb_id,
    retrievalQuery={"text": "vacation policy"},
    retrievalConfiguration={"vectorSearchConfiguration": {"numberOfResults": 2}},
)
results = found["retrievalResults"]
assert len(results) == 2, found
assert results[0]["content"]["text"] and results[0]["location"]["s3Location"]["uri"], results
assert results[0]["score"] >= results[1]["score"], results
print("retrieve ok")

rag = agent.retrieve_and_generate(
    input={"text": "how many vacation days"},
    retrieveAndGenerateConfiguration={
        "type": "KNOWLEDGE_BASE",
        "knowledgeBaseConfiguration": {"knowledgeBaseId": kb_id, "modelArn": model},
    },
)
assert rag["output"]["text"], rag
assert rag["sessionId"], rag
citation = rag["citations"][0]
assert citation["generatedResponsePart"]["textResponsePart"]["text"], citation
assert citation["retrievedReferences"][0]["content"]["text"], citation
print("retrieve_and_generate ok")
