"""LlamaIndex messages read back are built without a second validation: they are what it builds.

The chat store keeps ``ChatMessage.model_dump(mode="json")`` of a validated message; reading it
back builds the message straight from that dump where it holds text blocks only
(``rebuild_chat_message``), through LlamaIndex's validation otherwise; each read hands the
caller copies (``hand_out``), so that what it changes stays its own.
"""

from __future__ import annotations

import copy
import json
import pickle
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from json_strategies import PACKED_VALUE, TEXT
from llama_index.core.base.llms.types import ImageBlock, TextBlock, ThinkingBlock
from llama_index.core.llms import ChatMessage, MessageRole

from zep_memory_plugins import BackendError, Message, ZepMemoryClient
from zep_memory_plugins.llama_index import LLAMA_INDEX_MESSAGE_KEY, ZepChatStore
from zep_memory_plugins.llama_index._convert import (
    from_zep_message,
    hand_out,
    rebuild_chat_message,
    to_zep_message,
)

_messages = st.builds(
    lambda role, texts, extra: ChatMessage(
        role=role, blocks=[TextBlock(text=t) for t in texts], additional_kwargs=extra
    ),
    st.sampled_from(list(MessageRole)),
    st.lists(TEXT, max_size=3),
    st.dictionaries(TEXT.filter(lambda k: k != "images"), PACKED_VALUE, max_size=3),
)


def _validated(message: ChatMessage) -> ChatMessage:
    return ChatMessage.model_validate(json.loads(json.dumps(message.model_dump(mode="json"))))


def _check_like_validated(built: ChatMessage, validated: ChatMessage) -> None:
    assert type(built) is ChatMessage
    assert built == validated and validated == built
    assert built.model_dump() == validated.model_dump()
    assert built.model_dump(mode="json") == validated.model_dump(mode="json")
    assert built.model_dump_json() == validated.model_dump_json()
    assert built.model_dump(exclude_unset=True) == validated.model_dump(exclude_unset=True)
    assert built.model_fields_set == validated.model_fields_set
    assert [b.model_fields_set for b in built.blocks] == [
        b.model_fields_set for b in validated.blocks
    ]
    assert built.__pydantic_extra__ == validated.__pydantic_extra__
    assert repr(built) == repr(validated) and str(built) == str(validated)
    assert built.content == validated.content and built.role is validated.role
    for copied in (
        copy.copy(built),
        copy.deepcopy(built),
        built.model_copy(),
        pickle.loads(pickle.dumps(built)),
        hand_out(built),
    ):
        assert copied == validated


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(message=_messages)
def test_a_rebuilt_message_is_what_validation_builds(message):
    built = from_zep_message(to_zep_message(message))
    _check_like_validated(built, _validated(message))
    assert built == message


def test_a_rebuilt_message_takes_assignments_as_a_validated_one_does():
    built = from_zep_message(to_zep_message(ChatMessage(role="user", content="one")))
    other = from_zep_message(to_zep_message(ChatMessage(role="user", content="two")))
    built.content = "changed"
    built.role = MessageRole.ASSISTANT
    built.additional_kwargs["k"] = 1
    assert built.content == "changed" and built.role is MessageRole.ASSISTANT
    assert other.content == "two" and other.additional_kwargs == {}
    assert (
        built.model_fields_set == other.model_fields_set == {"role", "additional_kwargs", "blocks"}
    )
    with pytest.raises(ValueError):
        built.blocks = [TextBlock(text="a"), TextBlock(text="b")]
        built.content = "cannot: two blocks"


@pytest.mark.parametrize(
    "message",
    [
        ChatMessage(
            role="user", blocks=[TextBlock(text="look"), ImageBlock(url="https://x/y.png")]
        ),
        ChatMessage(role="assistant", blocks=[ThinkingBlock(content="hmm"), TextBlock(text="ok")]),
        ChatMessage(role="user", content="x", additional_kwargs={"images": []}),
    ],
)
def test_messages_that_are_not_plain_text_are_validated(message):
    stored = json.loads(json.dumps(message.model_dump(mode="json")))
    _check_like_validated(rebuild_chat_message(stored), _validated(message))


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d.update(role="martian"),
        lambda d: d.update(blocks=[{"block_type": "text", "text": 5}]),
        lambda d: d.update(blocks="not a list"),
        lambda d: d.update(additional_kwargs=[]),
        lambda d: d.pop("blocks"),
        lambda d: d.update(extra_field=1),
    ],
)
def test_a_dump_that_is_not_plain_goes_through_validation(change):
    stored = json.loads(json.dumps(ChatMessage(role="user", content="x").model_dump(mode="json")))
    change(stored)
    try:
        expected: Any = ChatMessage.model_validate(copy.deepcopy(stored))
    except (TypeError, ValueError) as exc:
        with pytest.raises(type(exc)):
            rebuild_chat_message(stored)
    else:
        _check_like_validated(rebuild_chat_message(stored), expected)


@pytest.mark.parametrize(
    "packed",
    [
        json.dumps({"role": "martian", "additional_kwargs": {}, "blocks": []}),
        json.dumps({"role": "user", "additional_kwargs": {}, "blocks": [{"block_type": "text"}]}),
        '{"role": "user"',
    ],
)
def test_a_damaged_packed_copy_is_a_backend_error(packed):
    stored = Message(role="user", content="x", metadata={LLAMA_INDEX_MESSAGE_KEY: packed})
    with pytest.raises(BackendError, match=LLAMA_INDEX_MESSAGE_KEY):
        from_zep_message(stored)


def test_each_read_hands_out_messages_of_its_own(client: ZepMemoryClient) -> None:
    """What a caller changes in what it read never reaches the next read."""
    store = ZepChatStore(user_id="u", client=client)
    sent = [
        ChatMessage(role="user", content="hi", additional_kwargs={"k": [1]}),
        ChatMessage(role="assistant", blocks=[TextBlock(text="a"), TextBlock(text="b")]),
        # not plain (an image block): validated by LlamaIndex on the way in, copied its way
        ChatMessage(
            role="user",
            blocks=[TextBlock(text="look"), ImageBlock(url="https://example.com/a.png")],
            additional_kwargs={"tags": {"a": [1]}},
        ),
    ]
    for message in sent:
        store.add_message("s", message)
    first = store.get_messages("s")
    first[0].content = "edited"
    first[0].additional_kwargs["new"] = True
    first[0].additional_kwargs["k"].append(2)  # nested, in place
    first[1].blocks[0].text = "edited too"
    first[1].blocks.append(TextBlock(text="appended"))
    first[2].additional_kwargs["new"] = True
    first[2].additional_kwargs["tags"]["a"].append(2)
    first[2].blocks.append(TextBlock(text="appended"))
    again = store.get_messages("s")
    assert again == sent
    assert store.get_messages("s") == sent
