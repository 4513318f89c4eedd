"""Validates the gateway's /openapi.json with openapi-spec-validator (an independent
implementation of the OpenAPI 3.1 schema and rules). Usage: openapi_validate.py URL."""
import json
import sys
import urllib.request

from openapi_spec_validator import validate
from openapi_spec_validator.validation import OpenAPIV31SpecValidator

with urllib.request.urlopen(sys.argv[1]) as response:
    document = json.load(response)
assert document["openapi"].startswith("3.1"), document["openapi"]
validate(document, cls=OpenAPIV31SpecValidator)
print(f"openapi ok: {len(document['paths'])} paths")
