"""Models named by the Hugging Face hub: fail at once, with what to do, when the hub cannot be reached.

Without this, a hub name on a machine with no internet spends a minute and a half retrying and then prints
transformers' generic advice; a shop wants to know that the model must be downloaded elsewhere and given as a path.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from urllib.parse import urlparse

HUB_TIMEOUT_S = 3.0


def hub_reachable(timeout_s: float = HUB_TIMEOUT_S) -> bool:
    """True when the hub's host (``HF_ENDPOINT``, else huggingface.co) takes a TCP connection."""
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        return False
    url = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname or "huggingface.co", port), timeout=timeout_s):
            return True
    except OSError:
        return False


def cached(name: str) -> bool:
    """True when the hub's cache already holds the model's config (so it loads without the network)."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - transformers depends on it
        return False
    for filename in ("config.json", "modules.json"):
        try:
            if isinstance(try_to_load_from_cache(name, filename), str):
                return True
        except ValueError:  # not a valid repo id (a path that does not exist, for instance)
            return False
    return False


def unreachable_model(name: str, spec: str) -> str | None:
    """Why ``name`` cannot load here (a message naming the fix), or None when it can be tried."""
    if Path(name).expanduser().exists() or cached(name) or hub_reachable():
        return None
    return (f"cannot load {spec}: {name!r} is not a local folder, not in the Hugging Face cache, and the hub "
            f"cannot be reached from this machine. Download it where there is internet "
            f"(`huggingface-cli download {name} --local-dir ./models/{Path(name).name}`) and give the folder, "
            f"e.g. {spec.rsplit(':', 1)[0] if ':' in spec else spec}:./models/{Path(name).name}")
