"""Product Q&A: a grounded answer chain with citations, and chat models by spec."""

from multimodal_rag.qa.chain import ProductQA, QAInput, QAResult
from multimodal_rag.qa.followup import Turn
from multimodal_rag.qa.llm import LLMError, LocalChatModel, load_chat_model

__all__ = ["LLMError", "LocalChatModel", "ProductQA", "QAInput", "QAResult", "Turn", "load_chat_model"]
