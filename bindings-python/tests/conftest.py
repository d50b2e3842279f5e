"""Shared fixtures: the repository's testdata/ and example schemas, and fresh ingestors."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Iterator

import pytest

import bulk_ingest

REPO = Path(__file__).resolve().parents[2]
TESTDATA = REPO / "testdata"
SCHEMAS = REPO / "examples" / "schemas"
POP_SCHEMA = (SCHEMAS / "pop-1.0.json").read_text()
CONTENT_SCHEMA = (SCHEMAS / "content-1.0.json").read_text()
EXPECTED = json.loads((TESTDATA / "expected.json").read_text())


def make_ingestor(path: Path, **options: object) -> bulk_ingest.Ingestor:
    ing = bulk_ingest.Ingestor(path, base_url="https://api.example.com/bulk", **options)  # type: ignore[arg-type]
    ing.register_schema("pop", "1.0", POP_SCHEMA)
    ing.register_schema("content", "1.0", CONTENT_SCHEMA)
    return ing


@pytest.fixture
def ing(tmp_path: Path) -> Iterator[bulk_ingest.Ingestor]:
    """An ingestor on its own directory, with one worker thread."""
    with make_ingestor(tmp_path / "data") as i:
        yield i


@pytest.fixture
def manual(tmp_path: Path) -> Iterator[bulk_ingest.Ingestor]:
    """An ingestor without workers: the test runs jobs with run_job / run_pending."""
    with make_ingestor(tmp_path / "data", workers=0) as i:
        yield i


def upload(ing: bulk_ingest.Ingestor, name: str, fmt: str | None = None) -> str:
    """Uploads testdata/<name> (declared as `fmt`, default from expected.json); returns the id."""
    fmt = fmt or EXPECTED[name]["format"]
    ticket = ing.create_upload(name, fmt)  # type: ignore[arg-type]
    ing.receive_upload(ticket.upload_url, ticket.content_type, TESTDATA / name)
    return ticket.file_id


def pop_rows(n: int, start: int = 0) -> bytes:
    """`n` valid POP rows as NDJSON, each with its own eventId."""
    lines = []
    for i in range(start, start + n):
        lines.append(
            json.dumps(
                {
                    "eventId": str(uuid.UUID(int=i + 1)),
                    "screenId": f"SCR-{i % 1000000:06d}",
                    "creativeId": f"CR-{i % 97}",
                    "campaignId": f"CMP-{i % 13}",
                    "playedAt": "2025-12-09T10:00:00Z",
                    "durationMs": 1000 + i % 5000,
                    "venueType": "retail",
                    "playStatus": "completed",
                },
                separators=(",", ":"),
            )
        )
    return ("\n".join(lines) + "\n").encode()
