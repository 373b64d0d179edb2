"""Product Q&A: a grounded answer chain with citations (chat models by spec come from ``multimodal_rag.llms``)."""

from multimodal_rag.llms import LLMError, LocalChatModel, load_chat_model
from multimodal_rag.qa.chain import ProductQA
from multimodal_rag.qa.schema import QAInput, QAResult
from multimodal_rag.qa.followup import Turn

__all__ = ["LLMError", "LocalChatModel", "ProductQA", "QAInput", "QAResult", "Turn", "load_chat_model"]
