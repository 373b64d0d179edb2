"""Chat models by spec (the offline default, any local transformers chat model, hosted ones), for the reranker's
LLM judge and the QA chain alike."""

from multimodal_rag.llms.chat import LLMError, LocalChatModel, load_chat_model

__all__ = ["LLMError", "LocalChatModel", "load_chat_model"]
