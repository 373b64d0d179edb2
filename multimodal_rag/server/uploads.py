"""Uploaded photos: capped in bytes and pixels, recognised by their content (never by their name), decoded once."""

from __future__ import annotations

import io
import warnings

from fastapi import HTTPException
from starlette.datastructures import UploadFile
from PIL import Image, UnidentifiedImageError

from multimodal_rag.catalog.images import ImageError, decode_image
from multimodal_rag.server.state import ServeLimits

CHUNK = 1 << 16


async def read_capped(upload: UploadFile, limit: int, what: str) -> bytes:
    """The upload's bytes; 413 as soon as it passes ``limit``, before the rest is read."""
    data = bytearray()
    while chunk := await upload.read(CHUNK):
        data.extend(chunk)
        if len(data) > limit:
            raise HTTPException(413, f"{what} is over the {limit:,} byte limit")
    return bytes(data)


def image_format(data: bytes) -> str | None:
    """The image format the bytes hold, read from their content; None when they are not an image."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data)) as img:
                return img.format
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return None


async def read_photo(upload: UploadFile, limits: ServeLimits) -> Image.Image:
    """An uploaded photo as RGB: 413 over the byte or pixel caps, 415 when the content is not an image, 400 when
    it is a broken one."""
    data = await read_capped(upload, limits.max_upload_bytes, f"the upload {upload.filename or 'image'!r}")
    if not data:
        raise HTTPException(400, "the field `image` is empty")
    if image_format(data) is None:
        raise HTTPException(415, f"the upload {upload.filename or 'image'!r} is not an image (recognised by its "
                                 "content, not its name); send a JPEG, PNG, WebP, GIF or BMP photo")
    with Image.open(io.BytesIO(data)) as img:
        width, height = img.size
    if width * height > limits.max_upload_pixels:
        raise HTTPException(413, f"the photo is {width}x{height} pixels, over the {limits.max_upload_pixels:,} "
                                 "pixel limit")
    try:
        return decode_image(data, max_pixels=limits.max_upload_pixels)
    except ImageError as exc:
        raise HTTPException(400, f"the photo cannot be read: {exc}") from None
