"""Every method of the Ingestor, through the POP seed's workflow, on the shared testdata."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

import bulk_ingest
from conftest import CONTENT_SCHEMA, EXPECTED, POP_SCHEMA, TESTDATA, make_ingestor, upload


def test_register_schema_returns_the_compiled_schema(ing: bulk_ingest.Ingestor) -> None:
    s = ing.register_schema("pop", "1.0", POP_SCHEMA)  # the same document again is fine
    assert (s.dataset, s.version, s.dialect) == ("pop", "1.0", "jsonschema")
    assert s.fields[0] == "eventId" and "playStatus" in s.fields
    assert s.primary_key == ["eventId"]
    # A mapping works as well as the JSON text.
    t = ing.register_schema("pop2", "1.0", json.loads(POP_SCHEMA))
    assert t.fields == s.fields
    with pytest.raises(bulk_ingest.IngestError):
        ing.register_schema("pop", "1.0", CONTENT_SCHEMA)  # versions are immutable


def test_create_upload_ticket(ing: bulk_ingest.Ingestor) -> None:
    before = datetime.now(timezone.utc)
    t = ing.create_upload("pop.ndjson", "ndjson", expires_in_seconds=600)
    assert t.file_id.startswith("file-")
    assert t.upload_url.startswith(f"https://api.example.com/bulk/uploads/{t.file_id}?")
    assert t.content_type == "application/x-ndjson"
    assert t.expires_at.tzinfo is not None
    assert timedelta(seconds=590) < t.expires_at - before < timedelta(seconds=610)
    d = t.to_dict()
    assert d["fileId"] == t.file_id and d["uploadUrl"] == t.upload_url
    assert set(d) == {"fileId", "uploadUrl", "contentType", "expiresAt", "uploadInstructions"}
    assert ing.create_upload("c.csv", "csv").content_type == "text/csv"


@pytest.mark.parametrize("kind", ["bytes", "bytearray", "path", "str", "file"])
def test_receive_upload_takes_bytes_paths_and_file_objects(
    ing: bulk_ingest.Ingestor, kind: str
) -> None:
    src = TESTDATA / "pop_valid.ndjson"
    data = src.read_bytes()
    body: object = {
        "bytes": lambda: data,
        "bytearray": lambda: bytearray(data),
        "path": lambda: src,
        "str": lambda: str(src),
        "file": lambda: open(src, "rb"),
    }[kind]()
    t = ing.create_upload("pop_valid.ndjson", "ndjson")
    f = ing.receive_upload(t.upload_url, t.content_type, body)  # type: ignore[arg-type]
    if isinstance(body, io.BufferedReader):
        body.close()
    assert (f.file_id, f.file_name, f.format) == (t.file_id, "pop_valid.ndjson", "ndjson")
    assert f.size == len(data)
    assert f.sha256 == hashlib.sha256(data).hexdigest()
    assert f.received_at.tzinfo is not None
    assert f.to_dict()["sha256"] == f.sha256
    assert ing.upload(t.file_id).sha256 == f.sha256


def test_receive_upload_reads_a_file_object_in_chunks(ing: bulk_ingest.Ingestor) -> None:
    sizes: list[int] = []

    class Counting(io.RawIOBase):
        def __init__(self, data: bytes) -> None:
            self.inner = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def read(self, n: int = -1) -> bytes:
            sizes.append(n)
            return self.inner.read(n)

    data = (TESTDATA / "pop_valid.ndjson").read_bytes() * 200  # ~200 KB, 1000 rows
    t = ing.create_upload("big.ndjson", "ndjson")
    f = ing.receive_upload(t.upload_url, t.content_type, Counting(data))
    assert f.size == len(data)
    assert len(sizes) > 2 and all(0 < n < len(data) for n in sizes)


def test_the_seed_workflow_end_to_end(ing: bulk_ingest.Ingestor) -> None:
    file_id = upload(ing, "pop_mixed.ndjson")
    job = ing.start_ingest(
        file_id, "pop", "1.0", metadata={"source": "daily_export", "timezone": "UTC"}
    )
    assert job.job_id.startswith("job-")
    assert job.status in ("queued", "processing")
    assert job.total_rows == 16
    assert job.metadata == {"source": "daily_export", "timezone": "UTC"}

    done = ing.wait(job.job_id, 60)
    exp = EXPECTED["pop_mixed.ndjson"]
    assert done.status == "partially_completed" and done.is_terminal
    assert (done.total_rows, done.processed_rows, done.error_rows) == (16, 3, 13)
    got = [[e.row, e.line, e.field, e.code] for e in done.errors]
    assert got == exp["errors"]
    assert all(e.message for e in done.errors)
    assert isinstance(done.started_at, datetime) and done.started_at.tzinfo is not None
    assert done.completed_at is not None and done.completed_at >= done.started_at
    assert done.created_at <= done.started_at
    assert done.error is None
    assert (done.file_id, done.dataset, done.schema_version) == (file_id, "pop", "1.0")
    assert ing.stored_rows("pop", "1.0") == 3

    d = done.to_dict()
    for key in ("jobId", "status", "totalRows", "processedRows", "errorRows", "errors",
                "startedAt", "completedAt"):
        assert key in d
    assert d["status"] == "partially_completed"
    # The seed's shape, as the example servers answer: a row error's message is `error`.
    assert d["errors"][0] == {
        "row": 2, "line": 2, "field": "screenId", "code": "REQUIRED",
        "error": done.errors[0].message,
    }
    assert d["completedAt"].endswith("Z")
    assert ing.job(job.job_id).to_dict() == d


def test_wait_returns_at_the_timeout_for_a_job_nobody_runs(manual: bulk_ingest.Ingestor) -> None:
    job = manual.start_ingest(upload(manual, "pop_valid.ndjson"), "pop", "1.0")
    st = manual.wait(job.job_id, 0.2)
    assert st.status == "queued" and not st.is_terminal and st.completed_at is None


def test_run_job_and_run_pending_on_the_calling_thread(manual: bulk_ingest.Ingestor) -> None:
    a = manual.start_ingest(upload(manual, "pop_valid.ndjson"), "pop", "1.0")
    b = manual.start_ingest(upload(manual, "pop_valid.csv"), "pop", "1.0")
    c = manual.start_ingest(upload(manual, "content_mixed.csv"), "content", "1.0")
    st = manual.run_job(a.job_id)
    assert (st.status, st.processed_rows) == ("completed", 5)
    assert manual.run_pending() == 2
    assert manual.run_pending() == 0
    # b has the same eventIds as a: the dataset's primary key rejects them all.
    sb = manual.job(b.job_id)
    assert (sb.status, sb.processed_rows, sb.error_rows) == ("failed", 0, 5)
    assert {e.code for e in sb.errors} == {"UNIQUE"}
    sc = manual.job(c.job_id)
    assert (sc.status, sc.processed_rows, sc.error_rows) == ("partially_completed", 2, 4)


def test_cancel_a_queued_job(manual: bulk_ingest.Ingestor) -> None:
    job = manual.start_ingest(upload(manual, "pop_valid.ndjson"), "pop", "1.0")
    st = manual.cancel(job.job_id)
    assert st.status == "cancelled" and st.is_terminal
    assert manual.run_pending() == 0
    assert manual.job(job.job_id).status == "cancelled"


def test_reports_failed_rows_and_signed_urls(ing: bulk_ingest.Ingestor) -> None:
    job = ing.start_ingest(upload(ing, "pop_mixed.csv"), "pop", "1.0")
    done = ing.wait(job.job_id, 60)
    assert (done.processed_rows, done.error_rows) == (3, 10)

    csv_report = ing.report(job.job_id)
    lines = csv_report.decode().splitlines()
    assert lines[0] == "row,line,field,code,message" and len(lines) == 11
    nd = ing.report(job.job_id, "ndjson").decode().splitlines()
    assert len(nd) == 10 and json.loads(nd[0])["row"] == 2

    failed = ing.failed_rows(job.job_id).decode().splitlines()
    header = (TESTDATA / "pop_mixed.csv").read_text().splitlines()[0]
    assert failed[0] == header and len(failed) == 11  # the same header, then 10 rows

    url = ing.signed_report_url(job.job_id, 300, kind="failed-rows")
    assert url.startswith(f"https://api.example.com/bulk/downloads/{job.job_id}/failed-rows?")
    dl = ing.download(url)
    assert dl.body == ing.failed_rows(job.job_id)
    assert dl.content_type == "text/csv" and dl.file_name.endswith(".csv")
    assert ing.download(ing.signed_report_url(job.job_id)).body == csv_report


def test_tenants_see_only_their_own_jobs(ing: bulk_ingest.Ingestor) -> None:
    t = ing.create_upload("a.ndjson", "ndjson", tenant="acme")
    ing.receive_upload(t.upload_url, t.content_type, TESTDATA / "pop_valid.ndjson")
    with pytest.raises(bulk_ingest.NotFoundError):
        ing.start_ingest(t.file_id, "pop", "1.0")
    job = ing.start_ingest(t.file_id, "pop", "1.0", tenant="acme")
    assert ing.wait(job.job_id, 60, tenant="acme").status == "completed"
    with pytest.raises(bulk_ingest.NotFoundError) as e:
        ing.job(job.job_id)
    assert e.value.code == "JOB_NOT_FOUND"


def test_job_options_limits(manual: bulk_ingest.Ingestor) -> None:
    job = manual.start_ingest(
        upload(manual, "pop_mixed.ndjson"), "pop", "1.0", max_error_rows=2, error_sample=1
    )
    st = manual.run_job(job.job_id)
    assert st.status == "failed"
    assert st.error is not None and st.error.code == "ERROR_LIMIT_EXCEEDED"
    assert "maxErrorRows" in st.error.message
    assert st.error.to_dict() == {"code": "ERROR_LIMIT_EXCEEDED", "message": st.error.message}
    assert len(st.errors) == 1


def test_a_second_ingestor_on_the_same_directory_sees_everything(tmp_path: Path) -> None:
    with make_ingestor(tmp_path / "d", workers=0) as a:
        job = a.start_ingest(upload(a, "pop_valid.json"), "pop", "1.0")
    with bulk_ingest.Ingestor(tmp_path / "d", workers=0) as b:
        assert b.run_job(job.job_id).status == "completed"
        assert b.stored_rows("pop", "1.0") == 5


def test_closed_ingestor_raises(tmp_path: Path) -> None:
    ing = make_ingestor(tmp_path / "d")
    ing.close()
    with pytest.raises(bulk_ingest.InvalidRequestError, match="closed"):
        ing.create_upload("a.csv", "csv")


def test_gzip_upload(manual: bulk_ingest.Ingestor) -> None:
    data = gzip.compress((TESTDATA / "pop_valid.csv").read_bytes())
    t = manual.create_upload("pop.csv.gz", "csv")
    manual.receive_upload(t.upload_url, t.content_type, data)
    job = manual.start_ingest(t.file_id, "pop", "1.0")
    assert manual.run_job(job.job_id).processed_rows == 5
