"""multimodal-rag: product search and product Q&A over Milvus."""

__version__ = "0.1.0"
