"""Scale-out storage through the package: the same URL strings as the example server."""

import os
import urllib.request
from pathlib import Path

import pytest

import bulk_ingest

REPO = Path(__file__).resolve().parents[2]
PG = os.environ.get("BULK_INGEST_TEST_PG")
S3 = os.environ.get("BULK_INGEST_TEST_S3")
SERVICES = bool(PG and S3)


def test_an_unusable_state_url_is_a_storage_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(bulk_ingest.StorageError) as e:
        bulk_ingest.Ingestor(tmp_path, state="mysql://db.example/app")
    assert e.value.code == "STORAGE_ERROR"
    assert "mysql" in str(e.value)


def test_an_unusable_blobs_url_is_a_storage_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(bulk_ingest.StorageError) as e:
        bulk_ingest.Ingestor(tmp_path, blobs="ftp://files.example/x")
    assert e.value.code == "STORAGE_ERROR"
    assert "ftp" in str(e.value)


def test_scale_out_urls_need_a_data_directory() -> None:
    with pytest.raises(bulk_ingest.InvalidRequestError):
        bulk_ingest.Ingestor(None, state="postgres://127.0.0.1/x")


@pytest.mark.skipif(
    not SERVICES and os.environ.get("CI") != "true",
    reason="needs PostgreSQL and s3s-fs (scripts/services.sh start)",
)
def test_the_client_puts_to_the_stores_presigned_url_and_the_job_reads_it(tmp_path: Path) -> None:
    assert SERVICES, "under CI the scale-out services must be running"
    assert PG and S3
    # A schema and a prefix of its own: no other test's jobs in this database or bucket.
    state = f"{PG}?schema=py{os.getpid()}"
    blobs = f"{S3}/py-{os.getpid()}"
    with bulk_ingest.Ingestor(tmp_path, state=state, blobs=blobs, workers=1) as ing:
        ing.register_schema("pop", "1.0", (REPO / "examples/schemas/pop-1.0.json").read_text())
        t = ing.create_upload("pop.ndjson", "ndjson", expires_in_seconds=600)
        assert "X-Amz-Signature=" in t.upload_url
        body = (REPO / "testdata/pop_valid.ndjson").read_bytes()
        req = urllib.request.Request(
            t.upload_url, data=body, method="PUT", headers={"Content-Type": t.content_type}
        )
        with urllib.request.urlopen(req) as r:
            assert r.status == 200
        job = ing.start_ingest(t.file_id, "pop", "1.0")
        done = ing.wait(job.job_id, 120)
        assert done.status == "completed", done.to_dict()
        assert done.processed_rows == done.total_rows > 0
