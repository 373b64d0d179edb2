"""What a catalog's photos look like, and query photos made to meet them.

A CNN compares two photos of one product well only when they look alike. Two mismatches were measured on the dev
sets (EfficientNet-Lite0, nDCG@10; ``docs/benchmarks.md`` has the commands):

- **Thumbnail catalogs.** Myntra's catalog holds 60x80 thumbnails and its query photos are sharp 224-px squares of
  the same items: 0.504 as they come, 0.873 shrunk to the thumbnails' longer side with their aspect kept, 0.970
  stretched to the thumbnails' exact width and height, 0.864 centre-cropped to their aspect first. So query photos
  are brought to the catalog's median width x height when the catalog holds thumbnails.
- **Store photos.** A shopper's photo taken in a store shows the product in clutter (shelves, bags, hands, other
  products); a catalog shows it alone on a plain background. On grocery_dev a centre crop of 0.7 of the query's
  shorter side raised nDCG@10 from 0.491 to 0.537 (0.6: 0.535, 0.5: 0.525, 0.9: 0.507; averaging or max-pooling
  several crops, object-centred crops from the network's own activations, larger inputs and query expansion all
  stayed at or under 0.54). The same crop lowers Myntra's image2product (product shots, 0.504 -> 0.347), so it is
  applied only to scene photos: those whose border is not plain, searched against a catalog of product shots.

Each ingest records a ``PhotoProfile`` (median width and height, and the share of product shots, i.e. photos with
a plain border, read from a sample of the catalog's photos) with the collection; ``QueryPhotoAdapter`` applies the
search settings to query photos.
"""

from __future__ import annotations

import io
import json
import statistics
from dataclasses import asdict, dataclass
from typing import Iterable

import numpy as np
from PIL import Image

MODEL_INPUT_SIDE = 224  # the input side of the common image models: catalogs with smaller photos hold thumbnails
# A photo's border is plain when this share of its border pixels is within BORDER_TOLERANCE of the border's median
# colour (measured: product shots 0.83-1.0 at their 5th-95th percentiles, store photos 0.04-0.37).
PLAIN_BORDER_SHARE = 0.6
BORDER_TOLERANCE = 24
BORDER_BAND = 0.06  # of the side
BORDER_SIZE = 128   # photos are looked at this small
# A catalog is one of product shots when at least this share of its photos has a plain border (myntra_dev 0.99,
# grocery_dev 1.0; flipkart_1050 0.74: many of its photos are lifestyle shots).
PRODUCT_SHOT_CATALOG = 0.9
# The profile is three statistics, so an ingest reads a sample of its photos: every one of a catalog's first
# PROFILE_ALL rows and one in PROFILE_STRIDE after, each of those standing for PROFILE_STRIDE photos. Looking at a
# photo costs ~0.7 ms (a second decode and the border check), ~4% of a Myntra product's ingest on 2 cores.
PROFILE_ALL = 1000
PROFILE_STRIDE = 8
SCENE_CROP = 0.7  # of the shorter side, chosen on half of grocery_dev's photos (the other half: 0.491 -> 0.537)
FITS = ("stretch", "crop", "keep")


@dataclass(frozen=True)
class PhotoStats:
    width: int
    height: int
    plain_border: bool
    weight: int = 1  # the catalog photos this one stands for in the profile's sample


def profile_weight(line: int) -> int:
    """How many photos the photo of a catalog's row ``line`` stands for in the profile's sample (0: not sampled)."""
    if line < PROFILE_ALL:
        return 1
    return PROFILE_STRIDE if line % PROFILE_STRIDE == 0 else 0


def has_plain_border(image: Image.Image) -> bool:
    """True when the photo's border is one flat colour (a product shot), False for a scene."""
    small = np.asarray(image.convert("RGB").resize((BORDER_SIZE, BORDER_SIZE), Image.Resampling.BILINEAR),
                       dtype=np.float32)
    band = max(1, int(BORDER_SIZE * BORDER_BAND))
    border = np.concatenate([small[:band].reshape(-1, 3), small[-band:].reshape(-1, 3),
                             small[:, :band].reshape(-1, 3), small[:, -band:].reshape(-1, 3)])
    close = np.abs(border - np.median(border, axis=0)).max(axis=1) < BORDER_TOLERANCE
    return float(close.mean()) >= PLAIN_BORDER_SHARE


def photo_stats(data: bytes, weight: int = 1) -> PhotoStats | None:
    """Size and border of a photo from its bytes (decoded small where the format allows); None when unreadable."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            width, height = img.size
            if width * height > 40_000_000:
                return None  # the decoder refuses it as a bomb; it has no profile either
            img.draft("RGB", (BORDER_SIZE, BORDER_SIZE))  # JPEG decodes at a fraction of the size
            plain = has_plain_border(img)
    except Exception:  # a bad photo is reported where it is decoded for embedding; here it just has no stats
        return None
    return PhotoStats(width, height, plain, weight)


@dataclass(frozen=True)
class PhotoProfile:
    """The catalog's photos in three numbers, recorded with the collection at ingest."""

    width: int
    height: int
    product_shots: float  # share of photos with a plain border
    photos: int  # the photos the profile stands for (each sampled photo counts its weight)

    @classmethod
    def from_stats(cls, stats: Iterable[PhotoStats]) -> "PhotoProfile | None":
        """The profile of the photos a sample stands for: each photo counts ``weight`` times."""
        stats = list(stats)
        if not stats:
            return None
        photos = sum(s.weight for s in stats)
        return cls(width=int(statistics.median(s.width for s in stats for _ in range(s.weight))),
                   height=int(statistics.median(s.height for s in stats for _ in range(s.weight))),
                   product_shots=round(sum(s.weight for s in stats if s.plain_border) / photos, 4), photos=photos)

    @property
    def thumbnails(self) -> bool:
        return max(self.width, self.height) < MODEL_INPUT_SIDE

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | None) -> "PhotoProfile | None":
        try:
            value = json.loads(text or "")
            return cls(**{k: value[k] for k in ("width", "height", "product_shots", "photos")})
        except (ValueError, TypeError, KeyError):
            return None


def parse_photo_size(value: object, key: str = "search.query_photo_size") -> tuple[int, int] | str | None:
    """``"auto"``, ``"WxH"`` (e.g. "60x80") or 0 / "off" (None). Raises ValueError naming the value."""
    if value == "auto":
        return "auto"
    if value in (0, "0", "off"):
        return None
    if isinstance(value, str) and "x" in value:
        w, _, h = value.lower().partition("x")
        if w.strip().isdigit() and h.strip().isdigit() and int(w) > 0 and int(h) > 0:
            return int(w), int(h)
    raise ValueError(f'{key} must be "auto", "WxH" (e.g. "60x80") or 0 for off, not {value!r}')


def parse_photo_crop(value: object, key: str = "search.query_photo_crop") -> float | str:
    """``"auto"`` or a fraction of the shorter side in (0, 1] (1: never crop). Raises ValueError naming the value."""
    if value == "auto":
        return "auto"
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value <= 1:
        return float(value)
    raise ValueError(f'{key} must be "auto" or a fraction of the photo in (0, 1] (1: never crop), not {value!r}')


def centre_crop(image: Image.Image, fraction: float) -> Image.Image:
    """The centre square of ``fraction`` times the shorter side (at least one pixel)."""
    side = max(1, round(min(image.size) * fraction))
    left, top = (image.width - side) // 2, (image.height - side) // 2
    return image.crop((left, top, left + side, top + side))


def resize_to(image: Image.Image, size: tuple[int, int], fit: str) -> Image.Image:
    """``stretch``: exactly ``size``; ``crop``: centre-cropped to its aspect, then ``size``; ``keep``: the photo's
    own aspect, within ``size``. Only ever shrinks: a photo already smaller is left as it is."""
    width, height = size
    if image.width <= width and image.height <= height:
        return image
    if fit == "keep":
        scale = min(width / image.width, height / image.height)
        return image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))),
                            Image.Resampling.LANCZOS)
    if fit == "crop":
        aspect = width / height
        if image.width / image.height > aspect:
            keep = max(1, round(image.height * aspect))
            left = (image.width - keep) // 2
            image = image.crop((left, 0, left + keep, image.height))
        else:
            keep = max(1, round(image.width / aspect))
            top = (image.height - keep) // 2
            image = image.crop((0, top, image.width, top + keep))
    return image.resize((width, height), Image.Resampling.LANCZOS)


@dataclass(frozen=True)
class QueryPhotoAdapter:
    """Query photos brought to what the catalog's photos look like (see the module's notes)."""

    size: tuple[int, int] | None = None  # shrink to this (width, height); None: as they come
    fit: str = "stretch"
    crop: float | str = 1.0  # "auto": SCENE_CROP for scene photos against a catalog of product shots
    profile: PhotoProfile | None = None

    @classmethod
    def from_settings(cls, size: object, fit: str, crop: object, profile: PhotoProfile | None) -> "QueryPhotoAdapter":
        parsed = parse_photo_size(size)
        if parsed == "auto":
            parsed = (profile.width, profile.height) if profile is not None and profile.thumbnails else None
        if fit not in FITS:
            raise ValueError(f"search.query_photo_fit must be one of {FITS}, not {fit!r}")
        return cls(size=parsed, fit=fit, crop=parse_photo_crop(crop), profile=profile)

    def crop_fraction(self, image: Image.Image) -> float:
        if self.crop != "auto":
            return float(self.crop)
        product_catalog = self.profile is not None and self.profile.product_shots >= PRODUCT_SHOT_CATALOG
        return SCENE_CROP if product_catalog and not has_plain_border(image) else 1.0

    def adapt(self, image: Image.Image) -> Image.Image:
        fraction = self.crop_fraction(image)
        if fraction < 1.0:
            image = centre_crop(image, fraction)
        if self.size is not None:
            image = resize_to(image, self.size, self.fit)
        return image
