// Scale-out storage through the package: the same URL strings as the example server
// (`state`: PostgreSQL, `blobs`: an S3-compatible store).
import { test } from 'node:test'
import assert from 'node:assert/strict'

import { lib, popSchema, readTestdata, tempDir } from './helpers.mjs'

const PG = process.env.BULK_INGEST_TEST_PG
const S3 = process.env.BULK_INGEST_TEST_S3
const SERVICES = Boolean(PG && S3)

test('an unusable state URL is a STORAGE_ERROR naming it', (t) => {
  assert.throws(
    () => new lib.Ingestor(tempDir(t, 'bad-state'), { state: 'mysql://db.example/app' }),
    (e) => e.code === 'STORAGE_ERROR' && e.message.includes('mysql'),
  )
})

test('an unusable blobs URL is a STORAGE_ERROR naming it', (t) => {
  assert.throws(
    () => new lib.Ingestor(tempDir(t, 'bad-blobs'), { blobs: 'ftp://files.example/x' }),
    (e) => e.code === 'STORAGE_ERROR' && e.message.includes('ftp'),
  )
})

test('the client PUTs to the store\'s presigned URL and the job reads it',
  { skip: !SERVICES && process.env.CI !== 'true' ? 'needs PostgreSQL and s3s-fs (scripts/services.sh start)' : false },
  async (t) => {
    assert.ok(SERVICES, 'under CI the scale-out services must be running')
    // A schema and a prefix of its own: no other test's jobs in this database or bucket.
    const ing = new lib.Ingestor(tempDir(t, 'scale'), {
      state: `${PG}?schema=node${process.pid}`,
      blobs: `${S3}/node-${process.pid}`,
      workers: 1,
    })
    t.after(() => ing.close())
    await ing.registerSchema('pop', '1.0', popSchema)
    const ticket = await ing.createUpload('pop.ndjson', 'ndjson', 600)
    assert.match(ticket.uploadUrl, /X-Amz-Signature=/)
    const res = await fetch(ticket.uploadUrl, {
      method: 'PUT',
      headers: { 'Content-Type': ticket.contentType },
      body: readTestdata('pop_valid.ndjson'),
    })
    assert.equal(res.status, 200)
    const job = await ing.startIngest(ticket.fileId, 'pop', '1.0')
    const done = await ing.wait(job.jobId, 120)
    assert.equal(done.status, 'completed')
    assert.ok(done.totalRows > 0)
    assert.equal(done.processedRows, done.totalRows)
  })
