"""A scripted chat model: stands in for a hosted one (the only thing the tests mock) and records its prompts."""

from __future__ import annotations

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult

CHUNK_CHARS = 7  # streamed a few characters at a time, as a real model streams tokens


class ScriptedChatModel(BaseChatModel):
    """Answers every prompt (its messages' text joined by newlines) with ``reply(prompt)``, cut at a stop
    string, and records every prompt."""

    reply: object
    prompts: list = []

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def _generate(self, messages, stop=None, run_manager=None, **kwargs):
        text = "\n".join(str(m.content) for m in messages)
        self.prompts.append(text)
        answer = self.reply(text)
        for s in stop or ():
            answer = answer.split(s)[0]
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=answer))])

    def _stream(self, messages, stop=None, run_manager=None, **kwargs):
        answer = self._generate(messages, stop).generations[0].message.content
        for start in range(0, max(len(answer), 1), CHUNK_CHARS):
            yield ChatGenerationChunk(message=AIMessageChunk(content=answer[start:start + CHUNK_CHARS]))


def scripted(reply) -> ScriptedChatModel:
    return ScriptedChatModel(reply=reply, prompts=[])


class ToolCallingChatModel(ScriptedChatModel):
    """Stands in for a hosted model that calls tools (structured output): with a tool bound it calls the first
    one with the arguments ``call(prompt, tool)`` gives (``tool``: the OpenAI tool schema it was bound; an
    exception raised is the provider's error), and records every tool; without one it answers as
    ``ScriptedChatModel``."""

    call: object = None
    tools: list = []

    def bind_tools(self, tools, *, tool_choice=None, **kwargs):
        from langchain_core.utils.function_calling import convert_to_openai_tool

        return self.bind(tools=[convert_to_openai_tool(t) for t in tools], **kwargs)

    def _generate(self, messages, stop=None, run_manager=None, tools=None, **kwargs):
        if not tools:
            return super()._generate(messages, stop, run_manager, **kwargs)
        text = "\n".join(str(m.content) for m in messages)
        self.prompts.append(text)
        self.tools.append(tools[0])
        arguments = self.call(text, tools[0])
        call = {"name": tools[0]["function"]["name"], "args": arguments, "id": "call_0"}
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content="", tool_calls=[call]))])


def tool_calling(call, reply=lambda prompt: "") -> ToolCallingChatModel:
    return ToolCallingChatModel(call=call, reply=reply, prompts=[], tools=[])
