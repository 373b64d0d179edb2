"""Evaluation results as a table (one column per config) and as a bar chart."""

from __future__ import annotations

from typing import Mapping

TABLE_METRICS = ("ndcg@10", "mrr@10", "recall@10", "hit@10", "map@100")

Results = Mapping[str, Mapping[str, Mapping[str, float]]]  # config -> task -> metric -> value


def results_table(results: Results) -> str:
    configs = list(results)
    tasks = list(next(iter(results.values())))
    lines = ["| task | metric | " + " | ".join(configs) + " |", "|---|---|" + "---|" * len(configs)]
    for task in tasks:
        for metric in TABLE_METRICS:
            cells = [f"{results[c][task][metric]:.3f}" for c in configs]
            lines.append(f"| {task} | {metric} | " + " | ".join(cells) + " |")
        lines.append(f"| {task} | queries | " + " | ".join(str(results[c][task]["queries"]) for c in configs) + " |")
    return "\n".join(lines)


def plot_results(results: Results, path: str, metric: str = "ndcg@10") -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        from multimodal_rag.config import ConfigError

        raise ConfigError("--plot needs matplotlib (pip install 'multimodal-rag[plot]')") from None
    configs = list(results)
    tasks = list(next(iter(results.values())))
    width = 0.8 / len(configs)
    fig, ax = plt.subplots(figsize=(1.6 + 1.8 * len(tasks), 4))
    for i, config in enumerate(configs):
        xs = [t + i * width for t in range(len(tasks))]
        ax.bar(xs, [results[config][task][metric] for task in tasks], width, label=config)
    ax.set_xticks([t + width * (len(configs) - 1) / 2 for t in range(len(tasks))], tasks)
    ax.set_ylabel(metric)
    ax.set_ylim(0, 1)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
