"""``ProductQA``: question (and optionally an image) -> retriever (+ reranker) -> numbered product cards -> chat
model -> an answer that cites the products it used.

One LCEL definition, ``parse | plan | retrieve | answer``, gives every call style: ``stream``/``astream`` yield
``{"query", "products"}`` first, then ``{"answer": piece}`` events, then ``{"result": QAResult}``;
``invoke``/``ainvoke`` return the ``QAResult``. The steps:

- parse (``steps.parse_step``, ``parsing``): the question and the conversation read into a ``ParsedQuestion``.
- plan (``steps.plan_step``): what to retrieve.
- retrieve (``steps.retrieve_step``): the products, and which one the question names and what field it asks.
- answer (``routes``): the first route that applies (fixed, shopping, fact, open): its prompt (``prompts``), the
  model's answer streamed (``generate``), and its guard (``guards``).

Facts come from the catalog, not from the model's memory: a named product's field is read from the product and
given to the model as a catalog fact; every number and catalog value an answer states must be on a card it was
given; every sentence that cites [n] names product n and states no other product's price, else the chain writes
it from the catalog's facts. ``QAResult.grounding`` says which rule held.
"""

from __future__ import annotations

from typing import Any, AsyncIterator, Callable, Iterator, Mapping, Sequence

from langchain_core.language_models import BaseChatModel
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import Runnable, RunnableConfig

from multimodal_rag.catalog.facets import FacetVocabulary
from multimodal_rag.config import PARSERS, REWRITES
from multimodal_rag.qa.fields import FieldResolver
from multimodal_rag.qa.grounding import GroundingCheck
from multimodal_rag.qa.guards import Guards
from multimodal_rag.qa.parsing import RulesParser, calls_tools, parser_for
from multimodal_rag.qa.routes import answer_step
from multimodal_rag.qa.schema import QAInput, QAResult
from multimodal_rag.qa.steps import parse_step, plan_step, retrieve_step
from multimodal_rag.retrieval.catalog import CatalogReader
from multimodal_rag.retrieval.retriever import ProductRetriever

__all__ = ["ProductQA", "QAInput", "QAResult"]  # QAInput and QAResult: what it takes and gives


class ProductQA(Runnable[Any, QAResult]):
    """Grounded product Q&A over a retriever and any LangChain chat model.

    ``synonyms`` extends the built-in field synonyms (``{"Warranty Summary": ["guarantee"]}``); ``embed`` (texts ->
    normalised vectors) lets a question name a field by a word no synonym lists; ``vocabulary`` is the catalog's
    facet vocabulary: its values (colours, materials, brands ...) are what an answer may state only when a given
    card holds them, and what tells a product from its twin when the twin was not retrieved (default: the
    ``catalog``'s). ``catalog`` reads the catalog beyond a search (what it has instead when a budget leaves
    nothing); default: a ``ProductRetriever``'s own. ``parser``: who reads the question (``parsing.parser_for``):
    "rules", "llm" (``llm``'s structured output over the vocabulary), or "auto" (the latter when ``llm`` calls
    tools).
    """

    def __init__(self, retriever: BaseRetriever, llm: BaseChatModel, *, context_k: int = 5, rewrite: str = "rules",
                 synonyms: Mapping[str, Sequence[str]] | None = None,
                 embed: Callable[[list[str]], Any] | None = None, vocabulary: FacetVocabulary | None = None,
                 catalog: CatalogReader | None = None, parser: str = "auto"):
        if context_k < 1:
            raise ValueError(f"context_k must be at least 1, got {context_k}")
        if rewrite not in REWRITES:
            raise ValueError(f"rewrite must be 'rules' or 'llm', not {rewrite!r}")
        if parser not in PARSERS:
            raise ValueError(f"parser must be 'auto', 'rules' or 'llm', not {parser!r}")
        self.retriever, self.llm, self.context_k, self.rewrite = retriever, llm, context_k, rewrite
        if catalog is None and isinstance(retriever, ProductRetriever):
            catalog = retriever.catalog()
        self.catalog = catalog
        self.vocabulary = vocabulary
        resolver = FieldResolver(synonyms, embed)
        values = vocabulary.values() if vocabulary is not None else set()
        rules = RulesParser(getattr(retriever, "understanding", None), resolver,
                            list(vocabulary.attributes) if vocabulary is not None else (),
                            rewriter=llm if rewrite == "llm" else None)
        self.parser = parser_for(parser, llm, vocabulary, rules)
        self.chain: Runnable[Any, dict] = (
            parse_step(self.parser)
            | plan_step(retriever, context_k)
            | retrieve_step(retriever, resolver, vocabulary, catalog, context_k)
            | answer_step(llm, Guards(GroundingCheck(values), resolver.phrasing))
        ).with_config(run_name="ProductQA")

    @classmethod
    def from_config(cls, config: Any = None, *, llm: BaseChatModel | str | None = None, db: str | None = None,
                    uri: str | None = None, collection: str | None = None) -> "ProductQA":
        """The configured retriever (and reranker), chat model and catalog; ``llm`` overrides the config's
        ``[qa] llm``; ``db``, ``uri`` and ``collection`` say where the store is (see
        ``ProductRetriever.from_config``)."""
        from multimodal_rag.config import ConfigError, resolve_config
        from multimodal_rag.llms import load_chat_model

        config = resolve_config(config, db=db, uri=uri, collection=collection)
        if not isinstance(llm, BaseChatModel):
            llm = load_chat_model(llm or config.qa.llm, max_new_tokens=config.qa.max_new_tokens)
        if config.qa.parser == "llm" and not calls_tools(llm):
            raise ConfigError(f"qa.parser = 'llm' needs a chat model that calls tools (structured output); "
                              f"{type(llm).__name__} does not: use 'rules' or 'auto'")
        retriever = ProductRetriever.from_config(config)
        catalog = retriever.catalog()
        return cls(retriever, llm, context_k=config.qa.context_k, rewrite=config.qa.rewrite,
                   synonyms=config.qa.synonyms, embed=retriever.text_encoder(), vocabulary=catalog.facets(),
                   catalog=catalog, parser=config.qa.parser)

    # -- Runnable: every call style from ``self.chain`` ------------------------------------------------------

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> QAResult:
        event: dict = {}
        for event in self.stream(input, config):
            pass
        return event["result"]

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> QAResult:
        event: dict = {}
        async for event in self.astream(input, config):
            pass
        return event["result"]

    def stream(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Iterator[dict]:
        return self.chain.stream(input, config)

    def astream(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> AsyncIterator[dict]:
        return self.chain.astream(input, config)
