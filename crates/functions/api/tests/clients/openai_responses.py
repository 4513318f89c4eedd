"""The official OpenAI SDK's Responses API against the gateway: a plain response, a streamed one
with a function tool (raw events and the SDK's stream helper, which rebuilds the response from
the events and checks their order), the function's output sent back, structured output, and the
stateless refusal. Usage: openai_responses.py BASE_URL (…/v1). Exits non-zero on any mismatch."""
import json
import sys

import openai
from openai import OpenAI

client = OpenAI(base_url=sys.argv[1], api_key="unused-locally", max_retries=0)

plain = client.responses.create(model="haiku", input="Say hello", instructions="Be brief", max_output_tokens=50)
assert plain.status == "completed", plain
assert plain.output_text, plain
assert plain.usage.total_tokens == plain.usage.input_tokens + plain.usage.output_tokens, plain.usage
print("responses ok")

tools = [{
    "type": "function",
    "name": "get_weather",
    "description": "Weather by city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}]
kinds, arguments, final = [], "", None
for event in client.responses.create(
    model="haiku", input="Weather in Oslo?", tools=tools, tool_choice="required", stream=True
):
    kinds.append(event.type)
    if event.type == "response.function_call_arguments.delta":
        arguments += event.delta
    if event.type == "response.completed":
        final = event.response
assert kinds[0] == "response.created" and kinds[-1] == "response.completed", kinds
assert "response.function_call_arguments.done" in kinds, kinds
call = next(item for item in final.output if item.type == "function_call")
assert call.name == "get_weather" and json.loads(call.arguments) == json.loads(arguments), (call, arguments)
assert "city" in json.loads(call.arguments)
print("stream tools ok")

# The SDK's helper accumulates the events into a response and fails on an out-of-order event.
with client.responses.stream(model="haiku", input="Stream a short poem", max_output_tokens=80) as stream:
    deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
    done = stream.get_final_response()
assert len(deltas) > 1 and "".join(deltas) == done.output_text, (deltas, done.output_text)
print("stream helper ok")

answer = client.responses.create(
    model="haiku",
    tools=tools,
    input=[
        {"role": "user", "content": "Weather in Oslo?"},
        {"type": "function_call", "call_id": call.call_id, "name": call.name, "arguments": call.arguments},
        {"type": "function_call_output", "call_id": call.call_id, "output": "12C and rain"},
    ],
)
assert answer.output_text and not any(i.type == "function_call" for i in answer.output), answer
print("tool output ok")

structured = client.responses.create(
    model="haiku",
    input="The capital of Norway",
    text={"format": {"type": "json_schema", "name": "city", "strict": True, "schema": {
        "type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"],
        "additionalProperties": False}}},
)
assert isinstance(json.loads(structured.output_text)["name"], str), structured.output_text
print("json schema ok")

try:
    client.responses.create(model="haiku", input="again", previous_response_id=plain.id)
    raise SystemExit("previous_response_id was accepted")
except openai.BadRequestError as error:
    assert error.body["param"] == "previous_response_id", error.body
print("stateless ok")
