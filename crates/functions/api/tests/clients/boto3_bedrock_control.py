"""boto3's `bedrock` (control-plane) client with endpoint_url set to the gateway and a gateway key
as SigV4 credentials, as Claude Code calls it: ListInferenceProfiles (SYSTEM_DEFINED, paged),
GetInferenceProfile and ListFoundationModels, parsed by botocore's own model of the API.
Usage: boto3_bedrock_control.py BASE_URL KEY_ID SECRET. Prints what it saw; exits non-zero on
any mismatch."""
import json
import sys

import boto3
from botocore.config import Config

client = boto3.client(
    "bedrock",
    endpoint_url=sys.argv[1],
    region_name="us-east-1",
    aws_access_key_id=sys.argv[2],
    aws_secret_access_key=sys.argv[3],
    config=Config(retries={"max_attempts": 1}),
)

listed = client.list_inference_profiles(typeEquals="SYSTEM_DEFINED")
ids = [p["inferenceProfileId"] for p in listed["inferenceProfileSummaries"]]
assert ids, listed
for profile in listed["inferenceProfileSummaries"]:
    assert profile["type"] == "SYSTEM_DEFINED" and profile["status"] == "ACTIVE", profile
    assert profile["models"][0]["modelArn"].startswith("arn:aws:bedrock:"), profile

paged, token = [], None
while True:
    kwargs = {"maxResults": 1, **({"nextToken": token} if token else {})}
    page = client.list_inference_profiles(**kwargs)
    paged += [p["inferenceProfileId"] for p in page["inferenceProfileSummaries"]]
    token = page.get("nextToken")
    if not token:
        break
assert paged == ids, (paged, ids)

one = client.get_inference_profile(inferenceProfileIdentifier=ids[0])
assert one["inferenceProfileId"] == ids[0], one

models = client.list_foundation_models()["modelSummaries"]
print(json.dumps({"profiles": ids, "models": [m["modelId"] for m in models]}))
