"""The generate step: the model's answer to a ``Prompt``, streamed through its guard, as the chain's events.

``write_step(llm, guard, guards)`` is one ``Runnable`` (a ``RunnableGenerator``) for every call style: it yields the
header ``{"query", "products"}``, the answer's pieces as the gate passes them (``{"answer": piece}``), what the
guard's answer adds to what streamed, then ``{"result": QAResult}``. The events add up to the answer. All the work
per chunk is ``Writing``'s; the sync and async bodies only pull chunks from the model, and stop it (by closing its
stream) once the gate has closed.
"""

from __future__ import annotations

from contextlib import aclosing, closing
from typing import AsyncIterator, Iterator

from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import Runnable, RunnableConfig, RunnableGenerator

from multimodal_rag.qa.guards import Answer, Draft, Guards
from multimodal_rag.qa.prompts import Prompt
from multimodal_rag.qa.schema import QAResult


class Writing:
    """One answer being written: the model's chunk texts go through the prompt's gate (if it has one); ``finish``
    hands the draft to the guard and completes what streamed."""

    def __init__(self, prompt: Prompt, guards: Guards):
        self.prompt = prompt
        self.generated = ""
        self.gate = guards.gate(prompt)

    @property
    def header(self) -> dict:
        return {"query": self.prompt.found.asked.parsed.query, "products": self.prompt.products}

    @property
    def stopped(self) -> bool:
        """The gate closed: the rest of the model's answer would not be shown."""
        return self.gate is not None and self.gate.failed is not None

    def feed(self, text: str) -> list[dict]:
        self.generated += text
        return [{"answer": s} for s in self.gate.feed(text)] if self.gate is not None else []

    def finish(self, guard: Runnable[Draft, Answer], config: RunnableConfig | None) -> list[dict]:
        """The last pieces through the gate, the rest of the guard's answer (citations the model left out, the
        catalog's sentence, or an answer guarded whole), then the result."""
        generated = self.generated if self.prompt.messages is not None else None
        if self.gate is None:
            pieces, draft = [], Draft(self.prompt, generated)
        else:
            pieces = [{"answer": s} for s in self.gate.close()]
            draft = Draft(self.prompt, generated, self.gate.shown, self.gate.failed, self.gate.replaced)
        answer = guard.invoke(draft, config)
        found, products = self.prompt.found, self.prompt.products
        result = QAResult(question=found.asked.input.question, query=found.asked.parsed.query, answer=answer.text,
                          cited_ids=[str(products[p - 1].metadata["id"]) for p in answer.positions],
                          products=products, grounding=answer.grounding, written_by=answer.written_by,
                          field=found.look.field.name.lower() if found.look.field else None,
                          understood=found.shopping, parsed=found.asked.parsed)
        rest = [{"answer": result.answer[len(draft.shown):]}] if result.answer != draft.shown else []
        return [*pieces, *rest, {"result": result}]


def write_step(llm: BaseChatModel, guard: Runnable[Draft, Answer], guards: Guards,
               name: str = "write") -> Runnable[Prompt, dict]:
    """generate -> guard, as the chain's events."""

    def write(prompts: Iterator[Prompt], config: RunnableConfig) -> Iterator[dict]:
        for prompt in prompts:
            writing = Writing(prompt, guards)
            yield writing.header
            if prompt.messages is not None:
                with closing(llm.stream(prompt.messages, config=config, stop=prompt.stop)) as chunks:
                    for chunk in chunks:
                        yield from writing.feed(str(chunk.content))
                        if writing.stopped:
                            break
            yield from writing.finish(guard, config)

    async def awrite(prompts: AsyncIterator[Prompt], config: RunnableConfig) -> AsyncIterator[dict]:
        async for prompt in prompts:
            writing = Writing(prompt, guards)
            yield writing.header
            if prompt.messages is not None:
                async with aclosing(llm.astream(prompt.messages, config=config, stop=prompt.stop)) as chunks:
                    async for chunk in chunks:
                        for event in writing.feed(str(chunk.content)):
                            yield event
                        if writing.stopped:
                            break
            for event in writing.finish(guard, config):
                yield event

    return RunnableGenerator(write, awrite, name=name)
