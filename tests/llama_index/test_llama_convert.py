"""ChatMessage <-> Zep message: lossless round trips through every backend, natural Zep view."""

from __future__ import annotations

import pytest
from llama_index.core.base.llms.types import (
    DocumentBlock,
    ImageBlock,
    TextBlock,
    ThinkingBlock,
    ToolCallBlock,
)
from llama_index.core.llms import ChatMessage, MessageRole

from zep_memory_plugins import BackendError, InvalidInputError, Message, ZepMemoryClient
from zep_memory_plugins.llama_index import (
    LLAMA_INDEX_MESSAGE_KEY,
    ZepMemory,
    from_zep_message,
    role_type_of,
    to_zep_message,
)

SAMPLES = [
    ChatMessage(role="system", content="Be brief."),
    ChatMessage(role="user", content="héllo 👋\nsecond line"),
    ChatMessage(
        role="assistant",
        blocks=[
            TextBlock(text="Let me compute."),
            ToolCallBlock(tool_call_id="c1", tool_name="multiply", tool_kwargs={"a": 6, "b": 7}),
        ],
        additional_kwargs={
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "multiply", "arguments": "{}"},
                }
            ]
        },
    ),
    ChatMessage(role="tool", content="42", additional_kwargs={"tool_call_id": "c1", "name": "mul"}),
    ChatMessage(
        role="user",
        blocks=[
            TextBlock(text="look"),
            ImageBlock(image=b"\x89PNG\r\n\x1a\n\x00\x01", image_mimetype="image/png"),
            ImageBlock(url="https://example.com/cat.png"),
        ],
    ),
    ChatMessage(role="assistant", blocks=[ThinkingBlock(content="hmm"), TextBlock(text="ok")]),
    ChatMessage(role="user", blocks=[DocumentBlock(data=b"%PDF-1.4 tiny", title="t.pdf")]),
    ChatMessage(role="developer", content="dev note"),
    ChatMessage(role="chatbot", content="", additional_kwargs={"nested": {"x": [1, 2.5, None]}}),
    ChatMessage(role="function", content="f()"),
    ChatMessage(role="model", blocks=[]),
]


def test_round_trip_through_every_backend_is_equal(client: ZepMemoryClient) -> None:
    stored = client.memory.add_messages("s", [to_zep_message(m) for m in SAMPLES])
    assert len(stored) == len(SAMPLES)
    back = [from_zep_message(m) for m in client.memory.get_messages("s")]
    assert back == SAMPLES
    # ... and through the adapter, on a client that never saw the messages being written
    memory = ZepMemory(client, "jane", "s2", defer_user_messages=False)
    memory.put_messages(SAMPLES)
    assert memory.get_all() == SAMPLES


@pytest.mark.parametrize(
    ("role", "role_type"),
    [
        ("user", "user"),
        ("assistant", "assistant"),
        ("system", "system"),
        ("tool", "tool"),
        ("function", "function"),
        ("developer", "norole"),
        ("chatbot", "norole"),
        ("model", "norole"),
    ],
)
def test_zep_view_reads_naturally(role: str, role_type: str) -> None:
    message = to_zep_message(
        ChatMessage(role=role, blocks=[TextBlock(text="a"), TextBlock(text="b")])
    )
    assert role_type_of(MessageRole(role)) == role_type
    assert (message.role, message.role_type, message.content) == (role, role_type, "a\nb")
    assert set(message.metadata or {}) == {LLAMA_INDEX_MESSAGE_KEY}


def test_message_without_text_has_empty_content() -> None:
    message = to_zep_message(
        ChatMessage(role="assistant", blocks=[ToolCallBlock(tool_name="t", tool_kwargs={})])
    )
    assert message.content == ""


def test_messages_written_by_others_are_rebuilt_from_role_type() -> None:
    cases = [
        (Message(role="Jane", role_type="user", content="hi"), MessageRole.USER),
        (Message(role="bot", role_type="assistant", content="yo"), MessageRole.ASSISTANT),
        (Message(role="tool", role_type="tool", content="1"), MessageRole.TOOL),
        (Message(role="developer", content="d"), MessageRole.DEVELOPER),
        (Message(role="narrator", content="n"), MessageRole.USER),
    ]
    for zep, role in cases:
        back = from_zep_message(zep)
        assert back == ChatMessage(role=role, content=zep.content)


def test_unreadable_stored_entry_is_a_backend_error() -> None:
    broken = Message(role="user", content="x", metadata={LLAMA_INDEX_MESSAGE_KEY: {"role": 5}})
    with pytest.raises(BackendError, match=LLAMA_INDEX_MESSAGE_KEY):
        from_zep_message(broken)


def test_what_json_cannot_carry_is_refused() -> None:
    with pytest.raises(InvalidInputError):
        to_zep_message(ChatMessage(role="user", content="x", additional_kwargs={"f": object()}))
    with pytest.raises(InvalidInputError):
        to_zep_message(ChatMessage(role="user", content="x", additional_kwargs={"n": float("nan")}))
    with pytest.raises(InvalidInputError):
        to_zep_message("not a message")  # type: ignore[arg-type]
