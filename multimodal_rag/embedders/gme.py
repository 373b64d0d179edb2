"""``gme:<name-or-path>``: GME (General Multimodal Embedding) on Qwen2-VL: texts, photos, and a product's photo
and text read together in one pass, all in one space.

Follows the model's reference inference (``gme_inference.py`` beside the weights on the hub): each input is a
chat prompt ``<|im_start|>system\\n{instruction}<|im_end|>\\n<|im_start|>user\\n[photo]{text}<|im_end|>\\n
<|im_start|>assistant\\n<|endoftext|>``, the photo's patch embeddings replace its ``<|image_pad|>`` tokens, the
language model runs with plain positions, and the vector is the last token's hidden state, L2-normalised. The
system instruction is "You are a helpful assistant." for documents and a task instruction for queries only.
Photos are resized to between 256 and 1,280 visual tokens, as in the reference.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
from PIL import Image

from multimodal_rag.catalog.images import pad_centred
from multimodal_rag.embedders.base import FusedEmbedder, register_embedder
from multimodal_rag.embedders.hf import HFModel

DOCUMENT_INSTRUCTION = "You are a helpful assistant."
QUERY_INSTRUCTION = "Find the product that matches the given query."
PATCH_PIXELS = 28 * 28  # one visual token after the 2x2 merge of 14-pixel patches
MIN_IMAGE_TOKENS, MAX_IMAGE_TOKENS = 256, 1280
MAX_LENGTH = 1800
VISION_START, IMAGE_PAD, VISION_END = "<|vision_start|>", "<|image_pad|>", "<|vision_end|>"
MAX_ASPECT = 200  # Qwen2-VL's image processor refuses photos more elongated than this


def pad_to_aspect(image: Image.Image, limit: float = MAX_ASPECT, fill=(255, 255, 255)) -> Image.Image:
    """A very elongated photo (a banner, a strip) centred on white margins so its sides are within ``limit``."""
    w, h = image.size
    if max(w, h) <= limit * min(w, h):
        return image
    return pad_centred(image, (w, math.ceil(w / limit)) if w > h else (math.ceil(h / limit), h), fill)


def gme_prompt(instruction: str, text: str, image_tokens: int) -> str:
    photo = f"{VISION_START}{IMAGE_PAD * image_tokens}{VISION_END}" if image_tokens else ""
    return (f"<|im_start|>system\n{instruction}<|im_end|>\n<|im_start|>user\n{photo}{text}<|im_end|>\n"
            "<|im_start|>assistant\n<|endoftext|>")


class GMEEmbedder(FusedEmbedder):
    """GME on Qwen2-VL: one model for texts, photos and both together (fp16 on CUDA)."""

    def __init__(self, name: str, *, query_instruction: str = QUERY_INSTRUCTION, max_length: int = MAX_LENGTH,
                 batch_size: int = 8):
        self.spec = f"gme:{name}"
        self.hf = HFModel("gme", name, "Qwen2VLForConditionalGeneration", tokenizer=True, image_processor=True,
                          image_processor_kwargs={"min_pixels": MIN_IMAGE_TOKENS * PATCH_PIXELS,
                                                  "max_pixels": MAX_IMAGE_TOKENS * PATCH_PIXELS})
        self.query_instruction = query_instruction
        self.max_length = max_length
        self.batch_size = batch_size
        self.truncated = 0  # texts cut to fit max_length so far

    @property
    def dimension(self) -> int:
        return int(self.hf.load()[0].config.text_config.hidden_size)

    @property
    def identity(self) -> str:
        # What stored (document-side) vectors depend on: not the query instruction, which only queries see.
        return f"{self.spec}|document:{DOCUMENT_INSTRUCTION}|pixels:{MIN_IMAGE_TOKENS}-{MAX_IMAGE_TOKENS}"

    def prepare(self, image: Image.Image) -> tuple[np.ndarray, np.ndarray]:
        """The photo's patches and its (time, height, width) grid, from the model's image processor."""
        out = self.hf.load()[2](images=pad_to_aspect(image), return_tensors="np")
        return out["pixel_values"], out["image_grid_thw"][0]

    def encode_texts(self, texts: Sequence[str], *, query: bool = False,
                     batch_size: int | None = None) -> np.ndarray:
        return self.encode_fused(texts, [None] * len(texts), query=query, batch_size=batch_size)

    def encode_prepared(self, prepared: Sequence[Any], *, batch_size: int | None = None) -> np.ndarray:
        return self.encode_fused([None] * len(prepared), prepared, batch_size=batch_size)

    def encode_fused(self, texts: Sequence[str | None], prepared: Sequence[Any | None], *, query: bool = False,
                     batch_size: int | None = None) -> np.ndarray:
        if len(texts) != len(prepared):
            raise ValueError(f"{len(texts)} texts but {len(prepared)} images")
        empty = [i for i, (t, p) in enumerate(zip(texts, prepared)) if not t and p is None]
        if empty:
            raise ValueError(f"items {empty} have neither text nor an image to embed")
        step = batch_size or self.batch_size
        instruction = self.query_instruction if query else DOCUMENT_INSTRUCTION
        out = [self._embed(texts[i:i + step], prepared[i:i + step], instruction)
               for i in range(0, len(texts), step)]
        return np.concatenate(out) if out else np.zeros((0, self.dimension), np.float32)

    def _image_tokens(self, prepared: Any | None) -> int:
        if prepared is None:
            return 0
        merge = self.hf.load()[0].config.vision_config.spatial_merge_size
        return int(np.prod(prepared[1])) // merge ** 2

    def _fit(self, instruction: str, text: str, image_tokens: int) -> str:
        """The text cut (and counted) so the whole prompt fits ``max_length`` tokens; the photo is kept whole."""
        tokenizer = self.hf.load()[1]
        overhead = len(tokenizer(gme_prompt(instruction, "", image_tokens))["input_ids"])
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        budget = max(self.max_length - overhead, 0)
        if len(ids) <= budget:
            return text
        self.truncated += 1
        return tokenizer.decode(ids[:budget])

    def _embed(self, texts: Sequence[str | None], prepared: Sequence[Any | None], instruction: str) -> np.ndarray:
        import torch

        model, tokenizer, _, device, dtype = self.hf.load()
        counts = [self._image_tokens(p) for p in prepared]
        prompts = [gme_prompt(instruction, self._fit(instruction, t or "", n), n) for t, n in zip(texts, counts)]
        tokenizer.padding_side = "right"  # the pooled token is found from the attention mask
        tokens = tokenizer(prompts, padding=True, return_tensors="pt")
        input_ids, mask = tokens["input_ids"].to(device), tokens["attention_mask"].to(device)
        backbone = model.model
        with torch.inference_mode():
            embeds = backbone.get_input_embeddings()(input_ids)
            photos = [p for p in prepared if p is not None]
            if photos:
                pixels = torch.from_numpy(np.concatenate([p[0] for p in photos])).to(device, dtype)
                grid = torch.from_numpy(np.stack([p[1] for p in photos])).to(device)
                features = backbone.get_image_features(pixels, grid)
                features = getattr(features, "pooler_output", features)  # transformers 5 wraps the split list
                embeds[input_ids == model.config.image_token_id] = torch.cat(list(features)).to(embeds.dtype)
            hidden = backbone.language_model(inputs_embeds=embeds, attention_mask=mask).last_hidden_state
            last = hidden[torch.arange(hidden.shape[0], device=device), mask.sum(dim=1) - 1]
            vectors = torch.nn.functional.normalize(last.float(), dim=-1)
        return vectors.cpu().numpy()


@register_embedder("gme")
def _gme(argument: str) -> GMEEmbedder:
    return GMEEmbedder(argument)
