"""The official `anthropic` SDK against the gateway: `Anthropic(base_url=…)` on /v1/messages
(create with tools and cache_control, stream, count_tokens, a Claude-Code-shaped beta call, an
error) and `AnthropicBedrock(base_url=…)` on /model/{id}/invoke[-with-response-stream] with the
gateway key as SigV4 credentials; then a cached-prompt conversation (one long system prompt,
three turns, under a key of its own). Usage: anthropic_messages.py BASE_URL API_KEY KEY_ID SECRET
BEDROCK_MODEL ANTHROPIC_MODEL CONVERSATION_KEY. Prints one JSON object: the conversation's usage
and gateway cost per turn. Exits non-zero on any mismatch."""
import json
import sys
import uuid

import anthropic
from anthropic import Anthropic, AnthropicBedrock

base, api_key, key_id, secret, bedrock_model, MODEL, conversation_key = sys.argv[1:8]
# MODEL is Anthropic's name (`claude-…-YYYYMMDD`); the gateway maps it to the Bedrock id.
client = Anthropic(base_url=base, api_key=api_key, max_retries=0)

TOOLS = [
    {
        "name": "get_weather",
        "description": "The weather in a city.",
        "input_schema": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
        "cache_control": {"type": "ephemeral"},
    }
]

# create, with tools and cache_control; tool_choice forces the call.
reply = client.messages.create(
    model=MODEL,
    max_tokens=200,
    tools=TOOLS,
    tool_choice={"type": "tool", "name": "get_weather"},
    messages=[{"role": "user", "content": "Weather in Paris?"}],
    metadata={"user_id": "user-1"},
)
assert reply.type == "message" and reply.role == "assistant", reply
assert reply.stop_reason == "tool_use", reply
tool = next(b for b in reply.content if b.type == "tool_use")
assert tool.name == "get_weather", reply
assert reply.usage.input_tokens > 0 and reply.usage.output_tokens > 0, reply.usage
assert reply.usage.cache_creation_input_tokens is not None, reply.usage

# The tool's result goes back; stop sequences and a text answer.
follow = client.messages.create(
    model=MODEL,
    max_tokens=100,
    tools=TOOLS,
    stop_sequences=["\n\nHuman:"],
    messages=[
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in reply.content]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool.id, "content": "sunny"}]},
    ],
)
assert follow.content and follow.content[0].type == "text", follow

# stream: Anthropic's event sequence, folded by the SDK into the same message.
seen = []
with client.messages.stream(
    model=MODEL,
    max_tokens=100,
    system=[{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
    messages=[{"role": "user", "content": "Say hello"}],
) as stream:
    for event in stream:
        seen.append(event.type)
    final = stream.get_final_message()
for kind in ["message_start", "content_block_start", "content_block_delta", "content_block_stop", "message_delta", "message_stop"]:
    assert kind in seen, (kind, seen)
assert final.content[0].text and final.usage.output_tokens > 0, final
assert final.stop_reason in ("end_turn", "max_tokens"), final

# count_tokens with tools and cache_control.
counted = client.messages.count_tokens(
    model=MODEL,
    tools=TOOLS,
    system=[{"type": "text", "text": "You are terse.", "cache_control": {"type": "ephemeral"}}],
    messages=[{"role": "user", "content": "How many tokens is this?"}],
)
assert counted.input_tokens > 0, counted

# Claude Code's shape: the beta client (`?beta=true`, anthropic-beta), extended thinking, a
# system-role message mid-conversation and fields Bedrock does not take.
beta = client.beta.messages.create(
    model=MODEL,
    max_tokens=2048,
    betas=["claude-code-20250219", "interleaved-thinking-2025-05-14", "context-management-2025-06-27"],
    thinking={"type": "enabled", "budget_tokens": 1024},
    messages=[
        {"role": "user", "content": "Plan a refactor."},
        {"role": "system", "content": "The user prefers small steps."},
        {"role": "user", "content": "Go."},
    ],
    extra_body={"context_management": {"edits": []}, "output_config": {"effort": "medium"}},
)
kinds = [b.type for b in beta.content]
assert "thinking" in kinds and "text" in kinds, kinds
assert next(b for b in beta.content if b.type == "thinking").signature, beta

# Anthropic's error shape, naming the field.
try:
    client.messages.create(model=MODEL, max_tokens=0, messages=[{"role": "user", "content": "x"}])
    raise AssertionError("max_tokens=0 was accepted")
except anthropic.BadRequestError as error:
    assert error.body["type"] == "error", error.body
    assert error.body["error"]["type"] == "invalid_request_error", error.body
    assert "max_tokens" in error.body["error"]["message"], error.body

# AnthropicBedrock: the same SDK's Bedrock client, SigV4-signed with the gateway key.
bedrock = AnthropicBedrock(
    base_url=base,
    aws_access_key=key_id,
    aws_secret_key=secret,
    aws_region="us-east-1",
    max_retries=0,
)
made = bedrock.messages.create(
    model=bedrock_model,
    max_tokens=100,
    tools=TOOLS,
    messages=[{"role": "user", "content": "Weather in Rome?"}],
)
assert made.content and made.usage.input_tokens > 0, made
streamed = []
with bedrock.messages.stream(
    model=bedrock_model, max_tokens=100, messages=[{"role": "user", "content": "Say hi"}]
) as stream:
    for event in stream:
        streamed.append(event.type)
    bedrock_final = stream.get_final_message()
assert "message_stop" in streamed and bedrock_final.content[0].text, streamed

# The cached-prompt conversation: one long system prompt (cached for 1 hour), the latest user
# turn cached for 5 minutes, three turns. Unique, so no other test's cache entry is read.
system = [
    {
        "type": "text",
        "text": f"[{uuid.uuid4()}] You are a support agent for a bicycle shop. " + "Policy detail. " * 400,
        "cache_control": {"type": "ephemeral", "ttl": "1h"},
    }
]
conversation = Anthropic(base_url=base, api_key=conversation_key, max_retries=0)
history, turns = [], []
for question in ["Do you fix brakes?", "How long does it take?", "And the price?"]:
    history.append({"role": "user", "content": [{"type": "text", "text": question, "cache_control": {"type": "ephemeral"}}]})
    raw = conversation.messages.with_raw_response.create(model=MODEL, max_tokens=64, system=system, messages=history)
    message = raw.parse()
    usage = message.usage
    creation = usage.cache_creation
    turns.append(
        {
            "input": usage.input_tokens,
            "output": usage.output_tokens,
            "cache_read": usage.cache_read_input_tokens,
            "cache_write": usage.cache_creation_input_tokens,
            "cache_write_1h": creation.ephemeral_1h_input_tokens if creation else 0,
            "cost_usd": raw.headers.get("x-gateway-cost"),
        }
    )
    # Earlier turns lose their marks: at most four cache points per request.
    history[-1] = {"role": "user", "content": question}
    history.append({"role": "assistant", "content": message.content[0].text})

print(json.dumps({"turns": turns}))
