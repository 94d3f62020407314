# mypy: allow-untyped-calls
"""Write the quickstart notebooks from the cells below, with no outputs.

    python notebooks/build_notebooks.py            # writes langchain_quickstart.ipynb, ...
    python -m pytest tests/test_notebooks.py       # runs every notebook on every backend

Edit the cells here, not in Jupyter, so the committed notebooks stay clean (no outputs, no
execution counts) and reviewable. Cell ids are derived from the position, so a rebuild of an
unchanged notebook changes nothing. (user_and_session_management.ipynb is edited by hand.)
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from textwrap import dedent
from typing import Any

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

# A notebook is a list of cells: ("md", text) or ("py", code).
Cells = list[tuple[str, str]]

LANGCHAIN: Cells = [
    (
        "md",
        """
        # LangChain quickstart: memory that remembers each user

        A chain with per-user memory, then an agent with a tool, both backed by
        `zep-memory-plugins`. It runs as is, in a few seconds:

        * the data goes to the **embedded store** (a local SQLite file), unless `ZEP_API_URL`
          (and `ZEP_API_KEY`) are set before starting Jupyter: then the same cells use a
          **Zep server** (try `zep-memory serve` and `ZEP_API_URL=http://127.0.0.1:8000`);
        * the model is LangChain's **fake chat model**, replying from a script, unless
          `OPENAI_API_KEY` is set and `langchain-openai` is installed: then it is a real one.
          Its answers change, the memory checks below still hold.
        """,
    ),
    (
        "py",
        """
        import uuid

        from zep_memory_plugins import SessionOwnershipError, ZepMemoryClient
        from zep_memory_plugins.langchain import (
            ZepChatMessageHistory,
            ZepMemoryContext,
            ZepMemoryMiddleware,
            with_zep_history,
        )

        client = ZepMemoryClient()  # embedded unless ZEP_API_URL is set
        run = uuid.uuid4().hex[:6]  # fresh ids on every run, so the notebook can be re-run
        ann, bob = f"ann-{run}", f"bob-{run}"
        client  # the repr shows where the data lives, never an API key
        """,
    ),
    (
        "py",
        """
        # ---- The model: LangChain's fake chat model, or a real one if OPENAI_API_KEY is set ----
        import importlib.util
        import os

        from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel
        from langchain_core.messages import AIMessage

        REAL_LLM = bool(os.environ.get("OPENAI_API_KEY")) and bool(
            importlib.util.find_spec("langchain_openai")
        )


        class ScriptedModel(FakeMessagesListChatModel):
            \"\"\"LangChain's fake chat model: gives its responses in order; accepts tools.\"\"\"

            def bind_tools(self, tools, **kwargs):
                return self


        def chat_model(*script):
            \"\"\"A real model if configured, else one that replies with `script`.\"\"\"
            if REAL_LLM:
                from langchain_openai import ChatOpenAI  # reads OPENAI_API_KEY itself

                return ChatOpenAI(model=os.environ.get("OPENAI_MODEL", "gpt-4o-mini"))
            return ScriptedModel(responses=list(script))


        "real model" if REAL_LLM else "fake model"
        """,
    ),
    (
        "md",
        """
        ## A chain with per-user memory

        `with_zep_history` wraps any runnable in LangChain's `RunnableWithMessageHistory`: each
        call loads the conversation into `history` and then stores the question and the answer.
        The user and the conversation (a Zep session) come from the call's config. The `spy`
        step keeps what the model was given, so we can check it.
        """,
    ),
    (
        "py",
        """
        import warnings

        from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
        from langchain_core.runnables import RunnableLambda

        # langchain-core >= 1.3.3 marks RunnableWithMessageHistory deprecated; it works.
        warnings.filterwarnings("ignore", message="RunnableWithMessageHistory is deprecated")

        prompt = ChatPromptTemplate.from_messages(
            [("system", "Be brief."), MessagesPlaceholder("history"), ("human", "{question}")]
        )
        model_inputs = []  # the messages the model got, call by call


        def spy(prompt_value):
            model_inputs.append(prompt_value.to_messages())
            return prompt_value


        llm = chat_model(
            AIMessage("Nice to meet you, Ann!"),
            AIMessage("You are Ann and you like hiking."),
            AIMessage("Hello Bob!"),
        )
        chat = with_zep_history(
            prompt | RunnableLambda(spy) | llm,
            client,
            input_messages_key="question",
            history_messages_key="history",
        )


        def ask(user_id, session_id, question):
            config = {"configurable": {"user_id": user_id, "session_id": session_id}}
            answer = chat.invoke({"question": question}, config)
            print(f"{user_id}: {question}\\n    model: {answer.content}")


        ask(ann, f"{ann}-chat", "Hi, I'm Ann and I like hiking.")
        ask(ann, f"{ann}-chat", "What do you know about me?")

        # The second call saw the first turn: system, Ann's question, the answer, the new question.
        assert [m.type for m in model_inputs[-1]] == ["system", "human", "ai", "human"]
        assert model_inputs[-1][1].content == "Hi, I'm Ann and I like hiking."
        """,
    ),
    (
        "md",
        """
        ### Users are isolated

        Bob's conversation starts empty, and he cannot open Ann's: a session belongs to one user.
        """,
    ),
    (
        "py",
        """
        ask(bob, f"{bob}-chat", "Hello, I'm Bob.")
        assert [m.type for m in model_inputs[-1]] == ["system", "human"]  # nothing of Ann's

        calls = len(model_inputs)
        try:
            ask(bob, f"{ann}-chat", "What did Ann tell you?")
            raise AssertionError("Bob read Ann's conversation")
        except SessionOwnershipError as error:
            print("refused:", error)
        assert len(model_inputs) == calls  # the model never ran for Bob's attempt
        """,
    ),
    (
        "md",
        """
        ### The memory outlives the process

        A new client, as after a restart, reads the conversation back: the same LangChain
        messages, stored as ordinary Zep messages.
        """,
    ),
    (
        "py",
        """
        fresh = ZepMemoryClient()
        history = ZepChatMessageHistory(session_id=f"{ann}-chat", user_id=ann, client=fresh)
        assert [m.type for m in history.messages] == ["human", "ai", "human", "ai"]
        assert history.messages[2].content == "What do you know about me?"
        [(m.role_type, m.content) for m in fresh.memory.get_messages(f"{ann}-chat")]
        """,
    ),
    (
        "md",
        """
        ## An agent with a tool

        `ZepMemoryMiddleware` gives a `create_agent` agent the same memory: before a run it
        loads the session, afterwards it stores everything the run added (the question, the
        tool call, the tool's result, the answer) in one write. The run's user and session
        come from its context.
        """,
    ),
    (
        "py",
        """
        from langchain.agents import create_agent
        from langchain_core.tools import tool


        @tool
        def weather(city: str) -> str:
            \"\"\"Today's weather in a city.\"\"\"
            return f"Sunny, 24°C in {city}."


        agent_llm = chat_model(
            AIMessage("", tool_calls=[{"name": "weather", "args": {"city": "Lisbon"}, "id": "c1"}]),
            AIMessage("It is sunny and 24°C in Lisbon."),
            AIMessage("You asked about the weather in Lisbon."),
        )
        agent = create_agent(
            agent_llm,
            tools=[weather],
            middleware=[ZepMemoryMiddleware(client)],
            context_schema=ZepMemoryContext,
        )
        trip = ZepMemoryContext(user_id=ann, session_id=f"{ann}-trip")


        def show(messages):
            for m in messages:
                calls = [f"{c['name']}({c['args']})" for c in getattr(m, "tool_calls", [])]
                print(f"{m.type:>6}: {m.content or 'calls ' + ', '.join(calls)}")


        question = {"messages": [("user", "What's the weather in Lisbon?")]}
        first = agent.invoke(question, context=trip)
        show(first["messages"])
        """,
    ),
    (
        "py",
        """
        second = agent.invoke({"messages": [("user", "What did I just ask you?")]}, context=trip)
        show(second["messages"])

        # The second run started from the first one, tool call and result included.
        assert second["messages"][: len(first["messages"])] == first["messages"]
        stored = client.memory.get_messages(trip.session_id)
        assert "tool" in [m.role_type for m in stored]
        assert stored[-2].content == "What did I just ask you?"
        """,
    ),
    (
        "md",
        """
        ## A long conversation within a token budget

        `ZepMemoryMiddleware(max_tokens=..., summarize=True)` keeps every request to the model
        within the budget: the oldest whole turns (a tool call always with its results) leave
        the request, and are first folded into a **rolling summary** by the agent's own model.
        The summary extends the previous one, is stored in the session (so a restart or another
        process reuses it) and is shown at the front, in the system message.

        Here a scripted model plays both parts, so 120 turns cost nothing: it answers every
        question and, when asked to summarise, keeps the old summary and adds the lines where
        the user says something about themselves.
        """,
    ),
    (
        "py",
        """
        from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
        from langchain_core.messages.utils import count_tokens_approximately
        from langchain_core.outputs import ChatGeneration, ChatResult
        from pydantic import Field


        class NotebookModel(GenericFakeChatModel):
            \"\"\"Answers every question; as a summariser, keeps facts the user gave.\"\"\"

            messages: object = Field(default_factory=lambda: iter(()))
            seen: list = Field(default_factory=list)  # the requests it answered

            def bind_tools(self, tools, **kwargs):
                return self

            def _generate(self, messages, *args, **kwargs):
                if messages[0].text.startswith("You maintain the running summary"):
                    marker = "New part of the conversation:\\n"
                    current, _, new = messages[-1].text.partition(marker)
                    old = current.removeprefix("Current summary:\\n").strip()
                    facts = [old] if old and old != "(none yet)" else []
                    facts += [line for line in new.splitlines() if " my " in line]
                    reply = " | ".join(facts)
                else:
                    self.seen.append(messages)
                    reply = f"Noted. ({len(messages)} messages in view)"
                return ChatResult(generations=[ChatGeneration(message=AIMessage(reply))])


        budget = 600
        long_llm = NotebookModel()
        memory_mw = ZepMemoryMiddleware(client, max_tokens=budget, summarize=True)
        long_agent = create_agent(
            long_llm,
            tools=[weather],
            middleware=[memory_mw],
            context_schema=ZepMemoryContext,
            system_prompt="Be brief.",
        )
        talk = ZepMemoryContext(user_id=ann, session_id=f"{ann}-long")
        long_agent.invoke(
            {"messages": [("user", "Hi! my name is Ann and my favourite colour is teal.")]},
            context=talk,
        )
        for n in range(2, 121):
            question = f"Question {n}: tell me one more thing about the ocean, please."
            long_agent.invoke({"messages": [("user", question)]}, context=talk)

        sizes = [count_tokens_approximately(request) for request in long_llm.seen]
        stored = client.memory.get_messages(talk.session_id)
        print(f"120 turns, {len(stored)} messages stored, {memory_mw.summaries_stored} summaries")
        print(f"largest request: {max(sizes)} tokens (budget {budget})")
        assert max(sizes) <= budget
        """,
    ),
    (
        "py",
        """
        # The last request: the system prompt with the summary, then the newest whole turns.
        last = long_llm.seen[-1]
        print(last[0].content)
        print([m.type for m in last[1:]])
        assert "teal" in last[0].content  # turn 1's fact, 119 turns later

        # The summary is a marked message of the session: a clear or a user delete removes it.
        [m.content for m in stored if m.role == "zep_memory_summary"][-1]
        """,
    ),
    (
        "md",
        """
        ## Clean up

        Deleting a user deletes their sessions and messages.
        """,
    ),
    (
        "py",
        """
        client.user.delete(ann)
        client.user.delete(bob)
        assert fresh.memory.get_messages(f"{ann}-chat") == []
        fresh.close()
        client.close()
        """,
    ),
]

LLAMA_INDEX: Cells = [
    (
        "md",
        """
        # LlamaIndex quickstart: memory that remembers each user

        A chat engine and an agent with `ZepMemory`, then LlamaIndex's `Memory` on the Zep
        store. It runs as is, in a few seconds:

        * the data goes to the **embedded store** (a local SQLite file), unless `ZEP_API_URL`
          (and `ZEP_API_KEY`) are set before starting Jupyter: then the same cells use a
          **Zep server** (try `zep-memory serve` and `ZEP_API_URL=http://127.0.0.1:8000`);
        * the model is LlamaIndex's **mock function-calling LLM**, replying from a script,
          unless `OPENAI_API_KEY` is set and `llama-index-llms-openai` is installed: then it is a
          real one. Its answers change, the memory checks below still hold.
        """,
    ),
    (
        "py",
        """
        import uuid

        from zep_memory_plugins import SessionOwnershipError, ZepMemoryClient
        from zep_memory_plugins.llama_index import ZepDBChatStore, ZepMemory, ZepSessionsBlock

        client = ZepMemoryClient()  # embedded unless ZEP_API_URL is set
        run = uuid.uuid4().hex[:6]  # fresh ids on every run, so the notebook can be re-run
        ann, bob = f"ann-{run}", f"bob-{run}"
        client  # the repr shows where the data lives, never an API key
        """,
    ),
    (
        "py",
        """
        # ---- The model: LlamaIndex's mock LLM, or OpenAI if OPENAI_API_KEY is set ----
        import os

        from llama_index.core.base.llms.types import ToolCallBlock
        from llama_index.core.llms import ChatMessage
        from llama_index.core.llms.mock import MockFunctionCallingLLM

        try:
            from llama_index.llms.openai import OpenAI  # reads OPENAI_API_KEY itself
        except ImportError:
            OpenAI = None
        REAL_LLM = bool(os.environ.get("OPENAI_API_KEY")) and OpenAI is not None


        def chat_model(*script):
            \"\"\"A real LLM if configured, else a mock replying with `script`, in order.\"\"\"
            if REAL_LLM:
                return OpenAI(model=os.environ.get("OPENAI_MODEL", "gpt-4o-mini"))
            replies = iter(script)

            def reply(messages, **kwargs):
                r = next(replies)
                return ChatMessage(role="assistant", content=r) if isinstance(r, str) else r

            return MockFunctionCallingLLM(response_generator=reply, is_chat_model=True)


        def tool_call(name, **kwargs):
            \"\"\"A scripted reply that calls a tool.\"\"\"
            block = ToolCallBlock(tool_call_id=f"call-{name}", tool_name=name, tool_kwargs=kwargs)
            return ChatMessage(role="assistant", blocks=[block])


        "real model" if REAL_LLM else "mock model"
        """,
    ),
    (
        "md",
        """
        To check what the model is given, whichever it is, a LlamaIndex event handler keeps the
        messages of every LLM call.
        """,
    ),
    (
        "py",
        """
        import llama_index.core.instrumentation as instrument
        from llama_index.core.instrumentation.event_handlers import BaseEventHandler
        from llama_index.core.instrumentation.events.llm import LLMChatStartEvent

        model_inputs = []  # the messages of each LLM call


        class KeepModelInputs(BaseEventHandler):
            def handle(self, event, **kwargs):
                if isinstance(event, LLMChatStartEvent):
                    model_inputs.append(event.messages)


        instrument.get_dispatcher().add_event_handler(KeepModelInputs())
        """,
    ),
    (
        "md",
        """
        ## A chat engine with `ZepMemory`

        `ZepMemory(client, user_id, session_id)` is the memory of one user's conversation (a
        Zep session): a turn costs one read and one write; the user and the session are created
        on the first write.
        """,
    ),
    (
        "py",
        """
        from llama_index.core.chat_engine import SimpleChatEngine

        llm = chat_model("Nice to meet you, Ann!", "You are Ann and you like hiking.", "Hello Bob!")


        def chat_engine(user_id, session_id):
            memory = ZepMemory(client, user_id, session_id)
            return SimpleChatEngine.from_defaults(llm=llm, memory=memory, system_prompt="Be brief.")


        ann_chat = chat_engine(ann, f"{ann}-chat")
        print("model:", ann_chat.chat("Hi, I'm Ann and I like hiking."))
        print("model:", ann_chat.chat("What do you know about me?"))

        # The second call saw the first turn: system, Ann's question, the answer, the new question.
        assert [m.role.value for m in model_inputs[-1]] == ["system", "user", "assistant", "user"]
        assert model_inputs[-1][1].content == "Hi, I'm Ann and I like hiking."
        """,
    ),
    (
        "md",
        """
        ### Users are isolated

        Bob's conversation starts empty, and he cannot open Ann's: a session belongs to one user.
        """,
    ),
    (
        "py",
        """
        print("model:", chat_engine(bob, f"{bob}-chat").chat("Hello, I'm Bob."))
        assert [m.role.value for m in model_inputs[-1]] == ["system", "user"]  # nothing of Ann's

        calls = len(model_inputs)
        try:
            chat_engine(bob, f"{ann}-chat").chat("What did Ann tell you?")
            raise AssertionError("Bob read Ann's conversation")
        except SessionOwnershipError as error:
            print("refused:", error)
        assert len(model_inputs) == calls  # the model never ran for Bob's attempt
        """,
    ),
    (
        "md",
        """
        ### The memory outlives the process

        A new client, as after a restart, reads the conversation back: the same LlamaIndex
        messages, stored as ordinary Zep messages.
        """,
    ),
    (
        "py",
        """
        fresh = ZepMemoryClient()
        history = ZepMemory(fresh, ann, f"{ann}-chat").get_all()
        assert [m.role.value for m in history] == ["user", "assistant", "user", "assistant"]
        assert history[2].content == "What do you know about me?"
        [(m.role_type, m.content) for m in fresh.memory.get_messages(f"{ann}-chat")]
        """,
    ),
    (
        "md",
        """
        ## An agent with `ZepMemory`

        Pass the memory to each run of a `FunctionAgent`: the run starts from the conversation
        so far, and what it adds (the question, the tool call, the tool's result, the answer)
        is stored. Agents are async: the cells `await` them.
        """,
    ),
    (
        "py",
        """
        from llama_index.core.agent.workflow import FunctionAgent


        def weather(city: str) -> str:
            \"\"\"Today's weather in a city.\"\"\"
            return f"Sunny, 24°C in {city}."


        agent_llm = chat_model(
            tool_call("weather", city="Lisbon"),
            "It is sunny and 24°C in Lisbon.",
            "You asked about the weather in Lisbon.",
        )
        agent = FunctionAgent(tools=[weather], llm=agent_llm, system_prompt="Be brief.")
        trip = ZepMemory(client, ann, f"{ann}-trip")

        print("agent:", await agent.run("What's the weather in Lisbon?", memory=trip))
        print("agent:", await agent.run("What did I just ask you?", memory=trip))

        # The second run started from the first one.
        assert model_inputs[-1][1].content == "What's the weather in Lisbon?"
        stored = client.memory.get_messages(trip.session_id)
        assert "tool" in [m.role_type for m in stored]
        [(m.role_type, m.content) for m in stored]
        """,
    ),
    (
        "md",
        """
        ## LlamaIndex's `Memory` on the Zep store

        `llama_index.core.memory.Memory` keeps the recent messages in a chat store and adds
        long-term memory blocks. `ZepDBChatStore` keeps them in Zep; `ZepSessionsBlock` recalls
        the user's other sessions, so a new conversation knows what Ann said before.
        (For the older `ChatMemoryBuffer`, use `ZepChatStore`.)
        """,
    ),
    (
        "py",
        """
        from llama_index.core.memory import Memory

        memory = Memory.from_defaults(
            session_id=f"{ann}-plans",
            chat_store=ZepDBChatStore(client, ann),
            memory_blocks=[ZepSessionsBlock(client, ann)],
        )
        planner = SimpleChatEngine.from_defaults(
            llm=chat_model("A hike in the hills near Lisbon?"), memory=memory
        )
        print("model:", await planner.achat("Any idea for my weekend?"))

        # The model was told about Ann's earlier sessions...
        print(model_inputs[-1][0].content)
        assert "I like hiking" in str(model_inputs[-1][0].content)
        # ... and the new conversation is stored in Zep.
        assert [m.role_type for m in client.memory.get_messages(f"{ann}-plans")] == [
            "user",
            "assistant",
        ]
        """,
    ),
    (
        "md",
        """
        ## A long conversation within a token budget

        `ZepMemory(..., token_limit=..., llm=...)` hands the engine only the newest whole turns
        that fit `token_limit` (counted with LlamaIndex's tokenizer, system prompt included);
        what falls out is folded by `llm` into a **rolling summary** kept in the session and
        given first, as a system message. (`ZepSummaryBlock` does the same for `Memory`.)
        A scripted LLM plays both parts here, so 100 turns cost nothing.
        """,
    ),
    (
        "py",
        """
        from llama_index.core.utils import get_tokenizer

        seen = []


        def script(messages, **kwargs):
            if str(messages[0].content).startswith("You maintain the running summary"):
                marker = "New part of the conversation:\\n"
                current, _, new = str(messages[-1].content).partition(marker)
                old = current.removeprefix("Current summary:\\n").strip()
                facts = [old] if old and old != "(none yet)" else []
                facts += [line for line in new.splitlines() if " my " in line]
                return ChatMessage(role="assistant", content=" | ".join(facts))
            seen.append(list(messages))
            return ChatMessage(role="assistant", content="Noted, thank you.")


        long_llm = MockFunctionCallingLLM(response_generator=script, is_chat_model=True)
        budget = 400
        long_memory = ZepMemory(client, ann, f"{ann}-long", token_limit=budget, llm=long_llm)
        long_chat = SimpleChatEngine.from_defaults(
            llm=long_llm, memory=long_memory, system_prompt="Be brief."
        )
        long_chat.chat("Hi! my name is Ann and my favourite colour is teal.")
        for n in range(2, 101):
            long_chat.chat(f"Question {n}: tell me one more thing about the ocean, please.")

        tokenize = get_tokenizer()
        sizes = [sum(len(tokenize(str(m.content))) for m in request) for request in seen]
        print(f"100 turns; largest request {max(sizes)} tokens (budget {budget})")
        assert max(sizes) <= budget
        print(seen[-1][1].content)  # the summary, right after the engine's system prompt
        assert "teal" in str(seen[-1][1].content)
        """,
    ),
    (
        "md",
        """
        ## Clean up

        Deleting a user deletes their sessions and messages.
        """,
    ),
    (
        "py",
        """
        client.user.delete(ann)
        client.user.delete(bob)
        assert fresh.memory.get_messages(f"{ann}-chat") == []
        fresh.close()
        client.close()
        """,
    ),
]

NOTEBOOKS: dict[str, Cells] = {
    "langchain_quickstart": LANGCHAIN,
    "llama_index_quickstart": LLAMA_INDEX,
}


def build(name: str, cells: Cells) -> Any:
    """The notebook ``name`` made of ``cells``, with stable cell ids and no outputs."""
    notebook = new_notebook(
        metadata={
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}
        }
    )
    for index, (kind, text) in enumerate(cells):
        source = dedent(text).strip("\n")
        cell = new_markdown_cell(source) if kind == "md" else new_code_cell(source)
        cell["id"] = hashlib.sha1(f"{name}:{index}".encode()).hexdigest()[:8]
        notebook.cells.append(cell)
    nbformat.validate(notebook)
    return notebook


def main(names: list[str]) -> None:
    """Write the notebooks named (default: all of them) next to this script."""
    for name in names or list(NOTEBOOKS):
        path = HERE / f"{name}.ipynb"
        nbformat.write(build(name, NOTEBOOKS[name]), path)
        print(f"wrote {path.relative_to(HERE.parent)}")


if __name__ == "__main__":
    main(sys.argv[1:])
