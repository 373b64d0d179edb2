"""Ready configs shipped with multimodal-rag (installed as ``multimodal_rag.configs``)."""
