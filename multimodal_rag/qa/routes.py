"""From the products found to the answer: one route per kind of answer, each prompt -> generate -> guard.

``routes`` lists them as data, tried in order, the first whose condition holds answering:

- fixed: an answer that needs no model (``Found.fixed``: nothing found, the named product missing, several named
  with different values, several fields answered, the field not listed, nothing satisfying a shopping question).
- shopping: the products that satisfy every constraint, the catalog's list as the model's fact.
- fact: a named product's field, its value as the model's fact.
- open: any other question; the answer streams a checked sentence at a time.

``answer_step`` makes them one ``RunnableBranch``; what each guard keeps is in ``guards``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import Runnable, RunnableBranch, RunnableLambda

from multimodal_rag.qa.generate import write_step
from multimodal_rag.qa.guards import Answer, Draft, Guards
from multimodal_rag.qa.prompts import Prompt, fact_prompt, fixed_prompt, open_prompt, shopping_prompt
from multimodal_rag.qa.steps import Found


@dataclass(frozen=True)
class Route:
    name: str
    applies: Callable[[Found], bool]
    prompt: Runnable[Found, Prompt]
    guard: Runnable[Draft, Answer]


def routes(guards: Guards) -> list[Route]:
    """The routes in the order they are tried; the last one always applies."""

    def route(name: str, applies: Callable[[Found], bool], prompt: Callable[[Found], Prompt],
              guard: Callable[[Draft], Answer]) -> Route:
        return Route(name, applies, RunnableLambda(prompt, name=f"{name} prompt"),
                     RunnableLambda(guard, name=f"{name} guard"))

    return [route("fixed", lambda found: found.fixed is not None, fixed_prompt, guards.fixed),
            route("shopping", lambda found: found.shopping is not None, shopping_prompt, guards.shopping),
            route("fact", lambda found: found.fact is not None, fact_prompt, guards.fact),
            route("open", lambda found: True, open_prompt, guards.open)]


def answer_step(llm: BaseChatModel, guards: Guards) -> Runnable[Found, dict]:
    """The routes as one branch: the first that applies gives its prompt to the model, then its guard."""
    branches = [(r.applies, r.prompt | write_step(llm, r.guard, guards, f"{r.name} answer")) for r in routes(guards)]
    return RunnableBranch(*branches[:-1], branches[-1][1])
