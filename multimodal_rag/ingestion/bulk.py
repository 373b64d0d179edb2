"""Milvus bulk import: products written as files in the collection's own schema, then loaded by the server.

For first loads of large catalogs, where row-by-row upserts are slow: pymilvus' ``BulkWriter`` writes Parquet
files (``LocalBulkWriter`` to a folder, ``RemoteBulkWriter`` to the server's object store), and ``import_files``
asks the server to load them (``bulk_import``) and polls the job to its end. Milvus Lite has no object store and
no import service: there the files can only be written.

The object store's credentials come from the environment: ``MMRAG_BULK_ENDPOINT`` (``http://minio:9000``),
``MMRAG_BULK_ACCESS_KEY`` and ``MMRAG_BULK_SECRET_KEY``.
"""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path
from typing import Any, Mapping, Sequence

from multimodal_rag.config import StoreConfig
from multimodal_rag.store.milvus import StoreError, redact
from multimodal_rag.store.schema import BM25_FIELD

IMPORT_POLL_S = 2.0
IMPORT_TIMEOUT_S = 6 * 3600.0
BULK_HINT = "pip install 'multimodal-rag[bulk]' (pymilvus' bulk_writer)"


def is_remote(dest: str) -> bool:
    return dest.startswith("s3://")


def check_destination(dest: str, store: StoreConfig) -> None:
    """Fail before any work when the destination cannot be used with this store."""
    if is_remote(dest):
        if not store.uri:
            raise StoreError("bulk import needs a Milvus server (standalone or distributed) and its object store; "
                             "Milvus Lite has neither: pass --uri, or write the files only with --bulk FOLDER")
        missing = [k for k in ("MMRAG_BULK_ENDPOINT", "MMRAG_BULK_ACCESS_KEY", "MMRAG_BULK_SECRET_KEY")
                      if not os.environ.get(k)]
        if missing:
            raise StoreError(f"--bulk {dest} needs the object store's address and keys in {', '.join(missing)}")
        if not dest[len("s3://"):].split("/", 1)[0]:
            raise StoreError(f"--bulk {dest}: name a bucket, s3://BUCKET/PREFIX")
    elif "://" in dest:
        raise StoreError(f"--bulk {dest}: use a local folder or s3://BUCKET/PREFIX (the Milvus server's bucket)")


class BulkFiles:
    """Writes rows (as ``steps.build_rows`` makes them) into bulk-import files with the collection's schema.

    Each ``write`` call makes its own files (one writer per call, under a fresh folder), so several writers (Ray
    actors) can share one destination; the returned paths are what ``import_files`` takes."""

    def __init__(self, schema: Any, dest: str):
        try:
            from pymilvus.bulk_writer import BulkFileType  # noqa: F401
        except ImportError as exc:
            raise StoreError(f"bulk files need pymilvus' bulk writer: {BULK_HINT} ({exc})") from None
        self.schema = schema
        self.dest = dest
        self.function_outputs = {BM25_FIELD}  # filled by the server's BM25 function, never written

    def _writer(self):
        from pymilvus.bulk_writer import BulkFileType, LocalBulkWriter, RemoteBulkWriter

        part = uuid.uuid4().hex
        if not is_remote(self.dest):
            folder = Path(self.dest).expanduser().resolve()
            folder.mkdir(parents=True, exist_ok=True)
            return LocalBulkWriter(schema=self.schema, local_path=str(folder / part), file_type=BulkFileType.PARQUET)
        bucket, _, prefix = self.dest[len("s3://"):].partition("/")
        endpoint = os.environ["MMRAG_BULK_ENDPOINT"]
        secure = endpoint.startswith("https://")
        connect = RemoteBulkWriter.S3ConnectParam(
            endpoint=endpoint.split("://", 1)[-1], access_key=os.environ["MMRAG_BULK_ACCESS_KEY"],
            secret_key=os.environ["MMRAG_BULK_SECRET_KEY"], bucket_name=bucket, secure=secure)
        return RemoteBulkWriter(schema=self.schema, remote_path=f"{prefix.strip('/')}/{part}".strip("/"),
                                connect_param=connect, file_type=BulkFileType.PARQUET)

    def write(self, rows: Sequence[Mapping[str, Any]]) -> list[list[str]]:
        """Write ``rows``; returns the files made, as the import takes them (a list of file groups)."""
        if not rows:
            return []
        writer = self._writer()
        for row in rows:
            writer.append_row({k: v for k, v in row.items() if k not in self.function_outputs})
        writer.commit()
        return [list(group) for group in writer.batch_files]


def import_files(store: StoreConfig, collection: str, files: Sequence[Sequence[str]], *,
                 timeout_s: float = IMPORT_TIMEOUT_S, poll_s: float = IMPORT_POLL_S) -> dict:
    """Ask the server to import ``files`` into ``collection`` and wait for the job; returns its final state."""
    from pymilvus.bulk_writer import bulk_import, get_import_progress

    if not store.uri:
        raise StoreError("bulk import needs a Milvus server; Milvus Lite cannot import files")
    auth = {"token": store.token} if store.token else {}
    answer = bulk_import(url=store.uri, collection_name=collection, db_name=store.db_name or "",
                         files=[list(g) for g in files], **auth).json()
    if answer.get("code", 0) != 0:
        raise StoreError(f"the server at {redact(store.uri)} refused the bulk import: {answer.get('message')}")
    job = answer["data"]["jobId"]
    deadline = time.monotonic() + timeout_s
    while True:
        state = get_import_progress(url=store.uri, job_id=job, db_name=store.db_name or "", **auth).json()
        data = state.get("data") or {}
        if data.get("state") == "Completed":
            return {"job": job, **data}
        if data.get("state") == "Failed" or state.get("code", 0) != 0:
            reason = data.get("reason") or state.get("message")
            raise StoreError(f"bulk import job {job} failed: {reason}. Nothing of it is visible; rerun the ingest "
                             "(without --bulk to upsert instead)")
        if time.monotonic() > deadline:
            raise StoreError(f"bulk import job {job} still runs after {timeout_s:.0f} s (at {data.get('progress')}%); "
                             "it goes on on the server: rerun the ingest later, it skips what is imported")
        time.sleep(poll_s)
