"""Errors: one base class, one subclass per family, `.code` exactly the design's strings."""

from __future__ import annotations

import ast
import time
from pathlib import Path
from typing import Callable
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

import bulk_ingest
from bulk_ingest import (
    FileContentError,
    IngestError,
    InvalidRequestError,
    JobStateError,
    NotFoundError,
    SchemaError,
    StorageError,
    UploadError,
)
from conftest import TESTDATA, make_ingestor, upload

STUB = Path(bulk_ingest.__file__).with_name("__init__.pyi")
DESIGN_CODES = [
    "INVALID_REQUEST", "UNAUTHORIZED", "UNSUPPORTED_MEDIA_TYPE", "FILE_NOT_FOUND",
    "JOB_NOT_FOUND", "SCHEMA_NOT_FOUND", "INVALID_SCHEMA", "UPLOAD_URL_EXPIRED",
    "INVALID_SIGNATURE", "UPLOAD_ALREADY_RECEIVED", "UPLOAD_NOT_RECEIVED", "FILE_TOO_LARGE",
    "INVALID_FILE_FORMAT", "CORRUPTED_FILE", "INVALID_FILE_TEMPLATE", "MAX_ROW_COUNT_EXCEEDED",
    "ERROR_LIMIT_EXCEEDED", "INVALID_STATE_TRANSITION", "STORAGE_ERROR",
]
FAMILIES = [InvalidRequestError, NotFoundError, SchemaError, UploadError, FileContentError,
            JobStateError, StorageError]


def stub_literal(name: str) -> list[str]:
    """The strings of the `.pyi`'s `name = Literal[...]`."""
    for node in ast.parse(STUB.read_text()).body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == name:
            sub = node.value
            assert isinstance(sub, ast.Subscript)
            assert isinstance(sub.slice, ast.Tuple)
            return [ast.literal_eval(e) for e in sub.slice.elts]
    raise AssertionError(f"{name} not in {STUB}")


def test_stub_literals_match_the_core() -> None:
    assert stub_literal("_ErrorCode") == list(bulk_ingest.ERROR_CODES) == DESIGN_CODES
    assert stub_literal("_RowErrorCode") == list(bulk_ingest.ROW_ERROR_CODES)


def test_every_code_has_a_family() -> None:
    assert set(bulk_ingest.ERROR_FAMILIES) == set(DESIGN_CODES)
    for code, cls in bulk_ingest.ERROR_FAMILIES.items():
        assert cls in FAMILIES, code
        assert issubclass(cls, IngestError) and cls is not IngestError
        assert cls.__module__ == "bulk_ingest"
    assert {bulk_ingest.ERROR_FAMILIES[c] for c in DESIGN_CODES} == set(FAMILIES)
    assert not issubclass(IngestError, RuntimeError)


def expect(cls: type[IngestError], code: str, fn: Callable[[], object], *words: str) -> None:
    with pytest.raises(IngestError) as info:
        fn()
    e = info.value
    assert type(e) is cls, (type(e), e)
    assert e.code == code
    for w in words:
        assert w in str(e), (w, str(e))


def test_invalid_request_family(ing: bulk_ingest.Ingestor) -> None:
    expect(InvalidRequestError, "INVALID_REQUEST",
           lambda: ing.create_upload("a.xml", "xml"), "xml")  # type: ignore[arg-type]
    expect(InvalidRequestError, "INVALID_REQUEST",
           lambda: ing.create_upload("a.csv", "csv", expires_in_seconds=0), "expiresInSeconds")
    expect(InvalidRequestError, "INVALID_REQUEST",
           lambda: ing.register_schema("bad name!", "1", "{}"), "dataset")
    expect(InvalidRequestError, "INVALID_REQUEST", lambda: ing.wait("job-x", -1), "timeout")
    t = ing.create_upload("a.csv", "csv")
    expect(InvalidRequestError, "UNSUPPORTED_MEDIA_TYPE",
           lambda: ing.receive_upload(t.upload_url, "application/json", b"a\n"), "text/csv")
    expect(InvalidRequestError, "INVALID_REQUEST",
           lambda: ing.receive_upload(t.upload_url, "text/csv", 42))  # type: ignore[arg-type]
    expect(InvalidRequestError, "INVALID_REQUEST",
           lambda: ing.report("job-x", "xml"))  # type: ignore[arg-type]
    job = ing.start_ingest(upload(ing, "pop_valid.ndjson"), "pop", "1.0")
    expect(InvalidRequestError, "INVALID_REQUEST",
           lambda: ing.start_ingest(job.file_id, "pop", "1.0", metadata=["not", "an", "object"]),  # type: ignore[arg-type]
           "metadata")


def test_not_found_family(ing: bulk_ingest.Ingestor) -> None:
    expect(NotFoundError, "JOB_NOT_FOUND", lambda: ing.job("job-nope"), "job-nope")
    expect(NotFoundError, "JOB_NOT_FOUND", lambda: ing.cancel("job-nope"))
    expect(NotFoundError, "JOB_NOT_FOUND", lambda: ing.failed_rows("job-nope"))
    expect(NotFoundError, "FILE_NOT_FOUND",
           lambda: ing.start_ingest("file-nope", "pop", "1.0"), "file-nope")
    file_id = upload(ing, "pop_valid.ndjson")
    expect(NotFoundError, "SCHEMA_NOT_FOUND",
           lambda: ing.start_ingest(file_id, "pop", "9.9"), "9.9")
    t = ing.create_upload("a.ndjson", "ndjson")
    expect(NotFoundError, "FILE_NOT_FOUND",
           lambda: ing.receive_upload(t.upload_url, t.content_type, TESTDATA / "missing.ndjson"),
           "missing.ndjson")


def test_schema_family(ing: bulk_ingest.Ingestor) -> None:
    expect(SchemaError, "INVALID_SCHEMA",
           lambda: ing.register_schema("d", "1", '{"type":"object","properties":{"a":{"oneOf":[]}}}'),
           "oneOf")
    expect(SchemaError, "INVALID_SCHEMA", lambda: ing.register_schema("d", "1", "not json"))


def test_upload_family(tmp_path: Path) -> None:
    with make_ingestor(tmp_path / "d", workers=0, max_upload_bytes=100) as ing:
        t = ing.create_upload("a.ndjson", "ndjson")
        expect(NotFoundError, "FILE_NOT_FOUND", lambda: ing.upload("file-nope"))
        expect(UploadError, "UPLOAD_NOT_RECEIVED",
               lambda: ing.start_ingest(t.file_id, "pop", "1.0"), "PUT")
        expect(UploadError, "FILE_TOO_LARGE",
               lambda: ing.receive_upload(t.upload_url, t.content_type, b"x" * 101), "100")
        small = b'{"a":1}\n'
        url = urlsplit(t.upload_url)
        q = parse_qs(url.query)
        forged = f"{url.path}?{urlencode({'expires': int(q['expires'][0]) + 1, 'sig': q['sig'][0]})}"
        expect(UploadError, "INVALID_SIGNATURE",
               lambda: ing.receive_upload(forged, t.content_type, small))
        ing.receive_upload(t.upload_url, t.content_type, small)
        expect(UploadError, "UPLOAD_ALREADY_RECEIVED",
               lambda: ing.receive_upload(t.upload_url, t.content_type, small), t.file_id)
        short = ing.create_upload("b.ndjson", "ndjson", expires_in_seconds=1)
        deadline = short.expires_at.timestamp() + 1.05
        time.sleep(max(0.0, deadline - time.time()))  # a URL's expiry is wall-clock time
        expect(UploadError, "UPLOAD_URL_EXPIRED",
               lambda: ing.receive_upload(short.upload_url, short.content_type, small))


@pytest.mark.parametrize(
    "name,fmt,code",
    [
        ("truncated.ndjson.gz", "ndjson", "CORRUPTED_FILE"),
        ("unclosed.json", "json", "CORRUPTED_FILE"),
        ("invalid_utf8.csv", "csv", "CORRUPTED_FILE"),
        ("not_json.json", "json", "INVALID_FILE_FORMAT"),
        ("missing_columns.csv", "csv", "INVALID_FILE_TEMPLATE"),
    ],
)
def test_file_content_family(manual: bulk_ingest.Ingestor, name: str, fmt: str, code: str) -> None:
    file_id = upload(manual, name, fmt)
    # Refused up front by the pre-check, or by the job when the problem lies deeper.
    try:
        job = manual.start_ingest(file_id, "pop", "1.0")
    except FileContentError as e:
        assert e.code == code and str(e)
        return
    st = manual.run_job(job.job_id)
    assert st.status == "failed" and st.error is not None
    assert st.error.code == code and st.error.message
    assert bulk_ingest.ERROR_FAMILIES[st.error.code] is FileContentError


def test_file_template_and_row_limit_are_answered_by_start_ingest(
    manual: bulk_ingest.Ingestor,
) -> None:
    file_id = upload(manual, "missing_columns.csv")
    expect(FileContentError, "INVALID_FILE_TEMPLATE",
           lambda: manual.start_ingest(file_id, "pop", "1.0"), "screenId", "playedAt")
    file_id = upload(manual, "pop_mixed.ndjson")
    expect(FileContentError, "MAX_ROW_COUNT_EXCEEDED",
           lambda: manual.start_ingest(file_id, "pop", "1.0", max_rows=10), "16")
    file_id = upload(manual, "content_bad_template.csv")
    expect(FileContentError, "INVALID_FILE_TEMPLATE",
           lambda: manual.start_ingest(file_id, "content", "1.0"), "fileUrl")


def test_job_state_family(manual: bulk_ingest.Ingestor) -> None:
    job = manual.start_ingest(upload(manual, "pop_valid.ndjson"), "pop", "1.0")
    assert manual.run_job(job.job_id).status == "completed"
    expect(JobStateError, "INVALID_STATE_TRANSITION",
           lambda: manual.cancel(job.job_id), "completed", "cancelled")


def test_storage_family(tmp_path: Path) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    expect(StorageError, "STORAGE_ERROR", lambda: bulk_ingest.Ingestor(not_a_dir), str(not_a_dir))


def test_errors_are_catchable_by_family_and_base(ing: bulk_ingest.Ingestor) -> None:
    with pytest.raises(NotFoundError):
        ing.job("job-x")
    try:
        ing.job("job-x")
    except IngestError as e:
        assert e.code == "JOB_NOT_FOUND" and e.args == ("job job-x not found",)
