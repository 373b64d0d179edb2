"""Catalog side: the product model, file loaders and image fetching."""

from multimodal_rag.catalog.images import ImageError, ImageFetcher, decode_image, load_image
from multimodal_rag.catalog.loaders import CatalogError, CatalogRow, load_catalog
from multimodal_rag.catalog.product import Product, RowError, product_from_row

__all__ = [
    "CatalogError", "CatalogRow", "ImageError", "ImageFetcher", "Product", "RowError",
    "decode_image", "load_catalog", "load_image", "product_from_row",
]
