"""A small catalog the project makes itself: products with their own text and drawn pictures.

Used by ``make demo`` and by tests that need a catalog whose every detail is known.
"""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image, ImageDraw

COLOURS = {
    "red": (200, 30, 40), "blue": (30, 70, 200), "green": (30, 150, 60),
    "yellow": (235, 200, 30), "black": (25, 25, 25), "purple": (120, 40, 150),
}

# kind -> (title noun, category, base price, material)
KINDS = {
    "mug": ("Ceramic Coffee Mug", "Home > Kitchen > Mugs", 299.0, "Ceramic"),
    "tshirt": ("Cotton Crew T-Shirt", "Apparel > Topwear > Tshirts", 499.0, "Cotton"),
    "sneaker": ("Running Sneakers", "Footwear > Shoes > Sports Shoes", 1999.0, "Mesh"),
    "lamp": ("Desk Lamp", "Home > Lighting > Lamps", 899.0, "Metal"),
    "backpack": ("Laptop Backpack", "Bags > Backpacks", 1299.0, "Polyester"),
    "watch": ("Analog Wrist Watch", "Accessories > Watches", 2499.0, "Steel"),
}
BRANDS = ("Acme", "Northwind", "Globex", "Initech", "Umbrella", "Hooli")


def draw_product(kind: str, colour: tuple[int, int, int], size: int = 256, *, scale: float = 1.0,
                 offset: tuple[int, int] = (0, 0)) -> Image.Image:
    """A product photo: the object in its colour on a white background."""
    img = Image.new("RGB", (size, size), (255, 255, 255))
    d = ImageDraw.Draw(img)
    c = size / 2 + offset[0], size / 2 + offset[1]

    def box(w: float, h: float, dx: float = 0, dy: float = 0):
        w, h = w * size * scale / 2, h * size * scale / 2
        return (c[0] + dx * size - w, c[1] + dy * size - h, c[0] + dx * size + w, c[1] + dy * size + h)

    dark = tuple(max(0, v - 60) for v in colour)
    if kind == "mug":
        d.rectangle(box(0.42, 0.5), fill=colour, outline=dark, width=4)
        d.ellipse(box(0.22, 0.3, dx=0.27), outline=colour, width=int(10 * scale) or 1)
    elif kind == "tshirt":
        x0, y0, x1, y1 = box(0.7, 0.7)
        w = x1 - x0
        d.polygon([(x0, y0 + w * .15), (x0 + w * .3, y0), (x0 + w * .7, y0), (x1, y0 + w * .15),
                   (x1 - w * .1, y0 + w * .35), (x1 - w * .22, y0 + w * .3), (x1 - w * .22, y1),
                   (x0 + w * .22, y1), (x0 + w * .22, y0 + w * .3), (x0 + w * .1, y0 + w * .35)], fill=colour)
    elif kind == "sneaker":
        d.ellipse(box(0.75, 0.32, dy=0.05), fill=colour)
        d.rectangle(box(0.8, 0.06, dy=0.2), fill=(240, 240, 240), outline=dark, width=3)
        for i in range(4):
            d.line([box(0.02, 0.02, dx=-0.1 + i * 0.07, dy=-0.05)[:2],
                    box(0.02, 0.02, dx=-0.05 + i * 0.07, dy=0.02)[:2]], fill=(255, 255, 255), width=3)
    elif kind == "lamp":
        x0, y0, x1, y1 = box(0.5, 0.3, dy=-0.2)
        d.polygon([(x0, y1), ((x0 + x1) / 2, y0), (x1, y1)], fill=colour)
        d.rectangle(box(0.04, 0.45, dy=0.12), fill=dark)
        d.rectangle(box(0.4, 0.05, dy=0.36), fill=dark)
    elif kind == "backpack":
        d.rounded_rectangle(box(0.55, 0.7), radius=int(30 * scale) or 1, fill=colour, outline=dark, width=4)
        d.rounded_rectangle(box(0.35, 0.25, dy=0.12), radius=int(12 * scale) or 1, outline=dark, width=4)
    elif kind == "watch":
        d.rectangle(box(0.18, 0.9), fill=dark)
        d.ellipse(box(0.5, 0.5), fill=colour, outline=dark, width=6)
        d.ellipse(box(0.38, 0.38), fill=(250, 250, 250))
        d.line([c, (c[0], c[1] - size * 0.14 * scale)], fill=(0, 0, 0), width=4)
        d.line([c, (c[0] + size * 0.1 * scale, c[1])], fill=(0, 0, 0), width=4)
    else:
        raise ValueError(f"unknown kind {kind!r}")
    return img


def sample_products() -> list[dict]:
    """The catalog rows (without images): every kind in every colour, 36 products."""
    rows = []
    for k_index, (kind, (noun, category, price, material)) in enumerate(KINDS.items()):
        for c_index, colour in enumerate(COLOURS):
            brand = BRANDS[(k_index + c_index) % len(BRANDS)]
            pid = f"{kind}-{colour}"
            rows.append({
                "id": pid,
                "title": f"{brand} {colour.title()} {noun}",
                "description": f"A {colour} {noun.lower()} by {brand}, made of {material.lower()}. "
                               f"Everyday quality at a fair price.",
                "category": category,
                "brand": brand,
                "price": price + 50 * c_index,
                "currency": "INR",
                "attributes": {"Color": colour.title(), "Material": material},
                "rating": round(3.5 + 0.25 * ((k_index + c_index) % 6), 2),
                "image": f"images/{pid}.png",
            })
    return rows


def make_sample_catalog(folder: str | Path) -> Path:
    """Write ``products.jsonl`` and its pictures under ``folder``; returns the catalog path."""
    folder = Path(folder)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    rows = sample_products()
    for row in rows:
        kind, colour = row["id"].split("-")
        draw_product(kind, COLOURS[colour]).save(folder / row["image"])
    path = folder / "products.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path
