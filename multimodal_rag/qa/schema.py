"""What ``ProductQA`` takes and gives: ``QAInput`` (a question, an image, filters, the conversation) and
``QAResult``."""

from __future__ import annotations

from typing import Any, Literal, Mapping

from langchain_core.documents import Document
from pydantic import BaseModel, ConfigDict, Field

from multimodal_rag.qa.followup import Turn
from multimodal_rag.qa.parsing import ParsedQuestion
from multimodal_rag.retrieval.understanding import Understanding

Grounding = Literal["lookup", "shopping", "llm", "catalog", "ambiguous", "not_listed", "not_found"]


class QAInput(BaseModel):
    """A question, optionally with an image (path, URL, bytes or PIL image), filters, and the conversation so far."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    question: str
    image: Any = None
    filters: dict[str, Any] | None = None
    history: list[Turn] = Field(default_factory=list)

    @classmethod
    def of(cls, value: Any) -> "QAInput":
        """A question as ``ProductQA`` takes it: a string, a mapping of these fields, or a ``QAInput``."""
        if isinstance(value, QAInput):
            return value
        if isinstance(value, str):
            return cls(question=value)
        if isinstance(value, Mapping):
            return cls(**value)
        raise TypeError(f"a question is a string, a dict or a QAInput, not {type(value).__name__}")


class QAResult(BaseModel):
    """The answer, the ids it cites (all among ``products``), and the products the model was given, in order.

    ``grounding``: "lookup" (a named product's field, or fields, stated by the model or by the chain), "shopping"
    (products that satisfy every constraint the question names: a budget, a brand, a kind, cheapest first), "llm"
    (the model's answer, every number and value found in the given cards, every cited product named), "catalog" (the
    model's answer stated something no card holds, or cited nothing, and was finished with the catalog's sentence;
    or it cited a product it did not name, and that sentence is the catalog's), "ambiguous" (the question names
    several products equally; each one's value is given), "not_listed" (the named product lacks the field),
    "not_found" (no retrieved product is the one named, or nothing was retrieved). ``parsed``: how the question was
    read."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    question: str
    query: str
    answer: str
    cited_ids: list[str]
    products: list[Document]
    grounding: Grounding
    written_by: Literal["model", "chain"]  # "chain": the model's answer failed a check, or was not needed
    field: str | None = None
    understood: Understanding | None = None  # a shopping answer's constraints (follow-ups keep them)
    parsed: ParsedQuestion | None = None

    @property
    def cited(self) -> list[Document]:
        by_id = {d.metadata["id"]: d for d in self.products}
        return [by_id[i] for i in self.cited_ids]

    def as_dict(self) -> dict[str, Any]:
        """The answer as ``mmrag ask --json`` and ``POST /api/ask`` give it."""
        return {"question": self.question, "query": self.query, "answer": self.answer,
                "cited": [product_summary(d) for d in self.cited],
                "products": [product_summary(d) for d in self.products],
                "grounding": self.grounding, "written_by": self.written_by, "field": self.field,
                "understood": self.understood.as_dict() if self.understood else None}

    def turn(self) -> Turn:
        """This exchange as conversation history: the cited products first, then the rest."""
        rest = [d for d in self.products if d.metadata["id"] not in self.cited_ids]
        return Turn(self.question, self.answer, [d.metadata for d in self.cited + rest], self.understood)


PRODUCT_SUMMARY_KEYS = ("id", "title", "price", "currency", "brand", "category", "image")


def product_summary(doc: Document) -> dict[str, Any]:
    return {k: doc.metadata.get(k) for k in PRODUCT_SUMMARY_KEYS}
