"""Runnable pipeline definitions built from the library (installed as ``multimodal_rag.pipelines``)."""
