"""The official OpenAI SDK's embeddings against the gateway: a list input with `dimensions` (the
SDK asks for base64 and decodes it), floats, a Cohere batch, and a refusal naming the field.
Usage: openai_embeddings.py BASE_URL (…/v1). Prints the first vector's first values as JSON."""
import json
import math
import sys

import openai
from openai import OpenAI

client = OpenAI(base_url=sys.argv[1], api_key="unused-locally", max_retries=0)

listed = client.embeddings.create(model="titan-embed", input=["hello world", "goodbye"], dimensions=256)
assert [d.index for d in listed.data] == [0, 1], listed
assert all(len(d.embedding) == 256 for d in listed.data), [len(d.embedding) for d in listed.data]
assert all(abs(math.sqrt(sum(x * x for x in d.embedding)) - 1) < 1e-3 for d in listed.data)
assert listed.data[0].embedding != listed.data[1].embedding
assert listed.usage.prompt_tokens == listed.usage.total_tokens > 0, listed.usage
print("embeddings ok")

floats = client.embeddings.create(model="titan-embed", input="hello world", dimensions=256, encoding_format="float")
assert floats.data[0].embedding == listed.data[0].embedding, "float and base64 carry the same vector"
print("float ok")

cohere = client.embeddings.create(model="cohere-embed", input=["a", "b", "c"])
assert len(cohere.data) == 3 and len(cohere.data[2].embedding) == 1024
print("cohere ok")

try:
    client.embeddings.create(model="titan-embed", input=["x"] * 33)
    raise SystemExit("33 inputs were accepted")
except openai.BadRequestError as error:
    assert error.body["param"] == "input", error.body
print("refusal ok")
print(json.dumps(listed.data[0].embedding[:4]))
