#!/usr/bin/env python3
"""Ingest a day's NDJSON export end to end, as a Python data pipeline does.

    python examples/python/daily_export.py pop_2025-12-09.ndjson --data-dir ./ingest-data

Uploads the file, starts the job, shows a progress bar (tqdm when it is installed) from the
job's ``totalRows`` / ``processedRows``, prints the summary as JSON and writes the failed rows
next to the input (``<name>.failed.ndjson``), ready to fix and send again.

Exit status: 0 when every row was ingested, 1 when some rows failed, 2 when the job failed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Optional, Protocol

import bulk_ingest

HERE = Path(__file__).resolve().parent
DEFAULT_SCHEMA = HERE.parent / "schemas" / "pop-1.0.json"


class Progress(Protocol):
    def update(self, n: int) -> object: ...
    def set_postfix_str(self, s: str) -> object: ...
    def close(self) -> object: ...


class TextProgress:
    """A one-line progress report on stderr, for machines without tqdm."""

    def __init__(self, total: Optional[int]) -> None:
        self.total, self.n = total, 0
        self.postfix = ""

    def update(self, n: int) -> None:
        self.n += n
        of = f"/{self.total}" if self.total is not None else ""
        print(f"\r{self.n}{of} rows {self.postfix}", end="", file=sys.stderr, flush=True)

    def set_postfix_str(self, s: str) -> None:
        self.postfix = s

    def close(self) -> None:
        print(file=sys.stderr)


def progress_bar(total: Optional[int]) -> Progress:
    try:
        from tqdm import tqdm
    except ImportError:
        return TextProgress(total)
    bar: Progress = tqdm(total=total, unit="rows", desc="ingest")
    return bar


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("file", type=Path, help="the day's export: NDJSON, optionally gzip")
    ap.add_argument("--data-dir", type=Path, default=Path("ingest-data"),
                    help="where the ingestor keeps its database and blobs")
    ap.add_argument("--schema", type=Path, default=DEFAULT_SCHEMA)
    ap.add_argument("--dataset", default="pop")
    ap.add_argument("--schema-version", default="1.0")
    ap.add_argument("--failed-out", type=Path, default=None,
                    help="where to write the failed rows (default: <file>.failed.ndjson)")
    args = ap.parse_args(argv)

    failed_out: Path = args.failed_out or args.file.with_name(
        args.file.name.removesuffix(".gz").removesuffix(".ndjson") + ".failed.ndjson"
    )
    with bulk_ingest.Ingestor(args.data_dir) as ing:
        ing.register_schema(args.dataset, args.schema_version, args.schema.read_text())
        ticket = ing.create_upload(args.file.name, "ndjson")
        ing.receive_upload(ticket.upload_url, ticket.content_type, args.file)
        job = ing.start_ingest(
            ticket.file_id, args.dataset, args.schema_version,
            metadata={"source": "daily_export", "file": args.file.name},
        )

        bar = progress_bar(job.total_rows)
        shown = 0
        while not job.is_terminal:
            job = ing.wait(job.job_id, timeout=0.25)
            done = job.processed_rows + job.error_rows
            bar.set_postfix_str(f"failed={job.error_rows}")
            bar.update(done - shown)
            shown = done
        bar.close()

        summary: dict[str, Any] = job.to_dict()
        summary["errors"] = summary["errors"][:5]  # the first few; the report has them all
        print(json.dumps(summary, indent=2))
        if job.error_rows:
            failed_out.write_bytes(ing.failed_rows(job.job_id))
            print(f"{job.error_rows} failed rows written to {failed_out}", file=sys.stderr)
    if job.status == "completed":
        return 0
    return 1 if job.status == "partially_completed" else 2


if __name__ == "__main__":
    try:
        sys.exit(main())
    except bulk_ingest.IngestError as e:
        print(f"error: {e.code}: {e}", file=sys.stderr)
        sys.exit(2)
