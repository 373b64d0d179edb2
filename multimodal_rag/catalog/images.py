"""Fetching and decoding product images.

References are local paths, ``file://`` URLs, ``http(s)`` URLs or object-store URLs (``s3://``, ``gs://``,
``hdfs://``, ``abfs://``: read through pyarrow's filesystems, credentials from their usual environment).
Downloads have a timeout, a size cap and a few retries; decoding applies EXIF orientation, takes the first frame
of animations, refuses decompression bombs before decoding pixels, and always returns RGB.
"""

from __future__ import annotations

import io
import time
import urllib.error
import urllib.parse
import urllib.request
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from multimodal_rag.errors import UserError

USER_AGENT = "multimodal-rag/0.1 (+product image fetcher)"
OBJECT_STORE_SCHEMES = ("s3", "gs", "gcs", "hdfs", "viewfs", "abfs", "abfss")


class ImageError(UserError, ValueError):
    """An image that cannot be fetched or decoded; the message says why."""


@dataclass(frozen=True)
class ImageFetcher:
    timeout_s: float = 10.0
    retries: int = 2
    max_bytes: int = 20_000_000
    backoff_s: float = 0.2

    def fetch(self, ref: str) -> bytes:
        """The raw bytes behind an image reference."""
        if not ref:
            raise ImageError("no image reference")
        scheme = urllib.parse.urlsplit(ref).scheme.lower()
        if scheme in ("http", "https"):
            return self._download(ref)
        if scheme == "file":
            parsed = urllib.parse.urlsplit(ref)
            return self._read_file(Path(urllib.request.url2pathname(parsed.netloc + parsed.path)))
        if scheme in OBJECT_STORE_SCHEMES:
            return self._read_object(ref)
        if scheme and len(scheme) > 1:  # one letter is a Windows drive, not a scheme
            raise ImageError(f"unsupported URL scheme {scheme!r}")
        return self._read_file(Path(ref))

    def _read_file(self, path: Path) -> bytes:
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            raise ImageError(f"file not found: {path}") from None
        except OSError as exc:
            raise ImageError(f"cannot read {path}: {exc.strerror}") from None
        if size > self.max_bytes:
            raise ImageError(f"file is {size} bytes, over the {self.max_bytes} byte cap: {path}")
        try:
            return path.read_bytes()
        except OSError as exc:
            raise ImageError(f"cannot read {path}: {exc.strerror}") from None

    def _read_object(self, url: str) -> bytes:
        import pyarrow.fs as pafs

        try:
            fs, path = pafs.FileSystem.from_uri(url)
            info = fs.get_file_info(path)
            if info.type == pafs.FileType.NotFound:
                raise ImageError(f"object not found: {url}")
            if info.size is not None and info.size > self.max_bytes:
                raise ImageError(f"object is {info.size} bytes, over the {self.max_bytes} byte cap: {url}")
            with fs.open_input_stream(path) as f:
                return f.read()
        except ImageError:
            raise
        except Exception as exc:  # pyarrow's errors for a missing bucket, bad credentials, a dropped connection
            raise ImageError(f"cannot read {url}: {exc}") from None

    def _download(self, url: str) -> bytes:
        last: Exception | None = None
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff_s * (2 ** (attempt - 1)))
            try:
                return self._download_once(url)
            except urllib.error.HTTPError as exc:
                last = exc
                if exc.code < 500 and exc.code != 429:
                    break  # a client error will not change on retry
            except ImageError:
                raise
            except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
                last = exc
        reason = getattr(last, "reason", None) or last
        if isinstance(last, urllib.error.HTTPError):
            reason = f"HTTP {last.code}"
        raise ImageError(f"download failed after {attempt + 1} attempt(s): {reason}")

    def _download_once(self, url: str) -> bytes:
        request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
        with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
            length = response.headers.get("Content-Length")
            if length and length.isdigit() and int(length) > self.max_bytes:
                raise ImageError(f"server says {length} bytes, over the {self.max_bytes} byte cap")
            data = response.read(self.max_bytes + 1)
        if len(data) > self.max_bytes:
            raise ImageError(f"download exceeds the {self.max_bytes} byte cap")
        return data


def pad_centred(image: Image.Image, size: tuple[int, int], fill=(255, 255, 255)) -> Image.Image:
    """The image in the middle of a ``size`` canvas of ``fill`` (white, as the margins of product photos)."""
    canvas = Image.new("RGB", size, fill)
    canvas.paste(image, ((size[0] - image.width) // 2, (size[1] - image.height) // 2))
    return canvas


def decode_image(data: bytes, *, max_pixels: int = 40_000_000) -> Image.Image:
    """Decode image bytes into an RGB picture, upright as its EXIF says."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            width, height = img.size
            if width * height > max_pixels:
                raise ImageError(f"{width}x{height} pixels is over the {max_pixels} pixel limit "
                                 "(a decompression bomb or an oversized photo)")
            img.seek(0)  # first frame of an animation
            img.load()
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError(f"refused as a decompression bomb: {exc}") from None
    except UnidentifiedImageError:
        raise ImageError("not an image file (or a format Pillow cannot read)") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageError(f"corrupt image: {exc}") from None
    img = ImageOps.exif_transpose(img)
    return to_rgb(img)


def to_rgb(img: Image.Image) -> Image.Image:
    """RGB for every common mode: alpha goes onto white, 16-bit and float scale into 8 bits."""
    if img.mode == "RGB":
        return img
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if img.mode.startswith("I;16") else max(float(arr.max()), 1.0)
        img = Image.fromarray(np.clip(arr / top * 255.0, 0, 255).astype(np.uint8), mode="L")
    if img.mode == "P":
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB")


def load_image(source: "str | Path | bytes | Image.Image", fetcher: ImageFetcher | None = None,
               max_pixels: int = 40_000_000) -> Image.Image:
    """Any user-facing image input (path, URL, bytes or PIL image) as an RGB picture."""
    if isinstance(source, Image.Image):
        return to_rgb(ImageOps.exif_transpose(source))
    if isinstance(source, (bytes, bytearray, memoryview)):
        return decode_image(bytes(source), max_pixels=max_pixels)
    if isinstance(source, (str, Path)):
        return decode_image((fetcher or ImageFetcher()).fetch(str(source)), max_pixels=max_pixels)
    raise TypeError(f"an image must be a path, URL, bytes or PIL image, not {type(source).__name__}")
