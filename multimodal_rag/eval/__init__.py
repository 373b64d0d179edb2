"""Evaluation as plain data: tasks (corpus, queries, qrels) in, metrics out."""

from multimodal_rag.eval.metrics import evaluate
from multimodal_rag.eval.runner import evaluate_task
from multimodal_rag.eval.tasks import Query, Task, TaskError, load_task

__all__ = ["Query", "Task", "TaskError", "evaluate", "evaluate_task", "load_task"]
