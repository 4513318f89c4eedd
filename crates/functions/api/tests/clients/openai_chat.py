"""The official OpenAI SDK against the gateway: a chat, a streamed chat and a tool call.
Usage: openai_chat.py BASE_URL (e.g. http://127.0.0.1:PORT/v1). Exits non-zero on any mismatch."""
import json
import sys

from openai import OpenAI

client = OpenAI(base_url=sys.argv[1], api_key="unused-locally", max_retries=0)

chat = client.chat.completions.create(
    model="haiku", messages=[{"role": "user", "content": "Say hello"}], max_tokens=50
)
assert chat.choices[0].message.content, chat
assert chat.usage.total_tokens == chat.usage.prompt_tokens + chat.usage.completion_tokens, chat.usage
print("chat ok")

pieces, usage = [], None
for chunk in client.chat.completions.create(
    model="haiku",
    messages=[{"role": "user", "content": "Stream please"}],
    stream=True,
    stream_options={"include_usage": True},
):
    if chunk.choices and chunk.choices[0].delta.content:
        pieces.append(chunk.choices[0].delta.content)
    if chunk.usage:
        usage = chunk.usage
assert len(pieces) > 1 and usage is not None and usage.completion_tokens > 0, (pieces, usage)
print("stream ok")

tools = [{
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}]
call = client.chat.completions.create(
    model="haiku", messages=[{"role": "user", "content": "Weather in Oslo?"}], tools=tools, tool_choice="required"
)
tool_call = call.choices[0].message.tool_calls[0]
assert call.choices[0].finish_reason == "tool_calls", call
assert tool_call.function.name == "get_weather"
assert "city" in json.loads(tool_call.function.arguments)
print("tools ok")
