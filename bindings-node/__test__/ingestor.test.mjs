// Every method of the package, every error code the library raises, the sink, streams.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { Readable } from 'node:stream'

import {
  CONTENT_TYPES, contentSchema, expected, lib, popIngestor, popRow, popSchema, readTestdata,
  rejectsWith, tempDir, testdata, uploadFile,
} from './helpers.mjs'

const { Ingestor, validate, errorCodes } = lib

test('POP workflow: upload, ingest, status, reports', async (t) => {
  const ing = await popIngestor(t, { baseUrl: 'https://api.example.com/bulk' })
  const info = await ing.registerSchema('pop', '1.1', JSON.parse(popSchema))
  assert.equal(info.dialect, 'jsonschema')
  assert.ok(info.fields.some((f) => f.name === 'eventId' && f.unique && f.required))

  const ticket = await ing.createUpload('pop.ndjson', 'ndjson', 600)
  assert.match(ticket.fileId, /^file-\d{8}-/)
  assert.ok(ticket.uploadUrl.startsWith(`https://api.example.com/bulk/uploads/${ticket.fileId}?`))
  assert.equal(ticket.contentType, 'application/x-ndjson')
  assert.ok(ticket.expiresAt instanceof Date)
  const left = ticket.expiresAt.getTime() - Date.now()
  assert.ok(left > 590_000 && left <= 600_000, `${left}`)
  assert.match(ticket.uploadInstructions, /PUT/)

  const bytes = readTestdata('pop_mixed.ndjson')
  const file = await ing.receiveUpload(ticket.uploadUrl, 'application/x-ndjson; charset=utf-8', bytes)
  assert.equal(file.fileId, ticket.fileId)
  assert.equal(file.fileName, 'pop.ndjson')
  assert.equal(file.format, 'ndjson')
  assert.equal(file.size, bytes.length)
  assert.equal(file.sha256, createHash('sha256').update(bytes).digest('hex'))
  assert.ok(file.receivedAt instanceof Date)
  assert.deepEqual(await ing.upload(file.fileId), file)

  const queued = await ing.startIngest(file.fileId, 'pop', '1.0', { source: 'test' }, { errorSample: 5 })
  assert.equal(queued.status, 'queued')
  assert.match(queued.jobId, /^job-\d{8}-/)
  assert.equal(queued.totalRows, 16)
  assert.equal(queued.processedRows, 0)
  assert.equal(queued.startedAt, null)
  assert.equal(queued.completedAt, null)
  assert.ok(queued.createdAt instanceof Date)
  assert.deepEqual(queued.metadata, { source: 'test' })
  assert.equal(queued.error, null)
  assert.deepEqual(await ing.job(queued.jobId), queued)

  const done = await ing.runJob(queued.jobId)
  const exp = expected['pop_mixed.ndjson']
  assert.equal(done.status, 'partially_completed')
  assert.equal(done.processedRows, exp.validRows)
  assert.equal(done.errorRows, exp.errorRows)
  assert.equal(done.errors.length, 5, 'errorSample')
  assert.deepEqual(done.errors.map((e) => [e.row, e.line, e.field, e.code]), exp.errors.slice(0, 5))
  assert.ok(done.startedAt instanceof Date && done.completedAt instanceof Date)
  assert.deepEqual(await ing.wait(queued.jobId, 5), done)

  const csv = (await ing.report(done.jobId)).toString()
  assert.equal(csv.trim().split('\n').length, 1 + exp.errorRows)
  const nd = (await ing.report(done.jobId, 'ndjson')).toString().trim().split('\n').map(JSON.parse)
  assert.deepEqual(nd.map((e) => [e.row, e.errors[0].code]), exp.errors.map((e) => [e[0], e[3]]))
  const failed = (await ing.failedRows(done.jobId)).toString().trim().split('\n')
  assert.equal(failed.length, exp.errorRows)
  // The failed rows are the file's own lines, as they were.
  const lines = bytes.toString().split('\n')
  assert.equal(failed[0], lines[exp.errors[0][1] - 1])

  const url = await ing.signedReportUrl(done.jobId, 60, 'failed-rows')
  assert.ok(url.startsWith(`https://api.example.com/bulk/downloads/${done.jobId}/failed-rows?`))
  const d = await ing.download(url)
  assert.equal(d.contentType, 'application/x-ndjson')
  assert.equal(d.fileName, `${done.jobId}-failed-rows.ndjson`)
  assert.deepEqual(d.body, await ing.failedRows(done.jobId))
  const d2 = await ing.download(await ing.signedReportUrl(done.jobId))
  assert.equal(d2.contentType, 'text/csv')
  assert.equal(d2.body.toString(), csv)
})

test('runPending runs every queued job; cancel; tenants', async (t) => {
  const ing = await popIngestor(t)
  const a = await uploadFile(ing, 'pop_valid.csv', 'csv')
  const b = await uploadFile(ing, 'pop_valid.json', 'json', 'tenant-b')
  const ja = await ing.startIngest(a.fileId, 'pop', '1.0')
  const jb = await ing.startIngest(b.fileId, 'pop', '1.0', null, null, 'tenant-b')
  const c = await uploadFile(ing, 'pop_valid.ndjson', 'ndjson')
  const jc = await ing.startIngest(c.fileId, 'pop', '1.0')
  const cancelled = await ing.cancel(jc.jobId)
  assert.equal(cancelled.status, 'cancelled')
  assert.equal(await ing.runPending(), 2)
  assert.equal(await ing.runPending(), 0)
  assert.equal((await ing.job(ja.jobId)).status, 'completed')
  assert.equal((await ing.job(jb.jobId, 'tenant-b')).processedRows, 5)
  // Another tenant's job does not exist for this one.
  await rejectsWith(() => ing.job(jb.jobId), 'JOB_NOT_FOUND')
  await rejectsWith(() => ing.startIngest(b.fileId, 'pop', '1.0'), 'FILE_NOT_FOUND')
  assert.equal((await ing.wait(jc.jobId, 0)).status, 'cancelled')
})

test('workers run jobs in the background; wait returns at a terminal state', async (t) => {
  const ing = await popIngestor(t, { workers: 1 })
  const f = await uploadFile(ing, 'pop_valid.ndjson.gz', 'ndjson')
  const j = await ing.startIngest(f.fileId, 'pop', '1.0')
  const s = await ing.wait(j.jobId, 30)
  assert.equal(s.status, 'completed')
  assert.equal(s.processedRows, 5)
})

test('receiveUpload takes a file path', async (t) => {
  const ing = await popIngestor(t)
  const tk = await ing.createUpload('v.csv', 'csv')
  const f = await ing.receiveUpload(tk.uploadUrl, 'text/csv', testdata('pop_valid.csv'))
  assert.equal(f.size, readTestdata('pop_valid.csv').length)
  const tk2 = await ing.createUpload('v.csv', 'csv')
  await rejectsWith(() => ing.receiveUpload(tk2.uploadUrl, 'text/csv', testdata('no_such_file.csv')), 'FILE_NOT_FOUND')
})

test('receiveUpload streams a Readable with backpressure, never holding the file', async (t) => {
  const ing = await popIngestor(t)
  const tk = await ing.createUpload('big.ndjson', 'ndjson')
  // 96 MiB from one reused 64 KiB block: the stream itself holds nothing.
  const block = Buffer.from(popRow(1).repeat(Math.ceil(65536 / popRow(1).length)).slice(0, 65536))
  const blocks = 1536
  const hash = createHash('sha256')
  let produced = 0
  const stream = new Readable({
    read() {
      if (produced === blocks) return this.push(null)
      produced++
      hash.update(block)
      this.push(block)
    },
  })
  const base = process.memoryUsage().rss
  let peak = base
  const sampler = setInterval(() => { peak = Math.max(peak, process.memoryUsage().rss) }, 5)
  let progressSeen = false
  const probe = setInterval(() => { if (produced > 0 && produced < blocks) progressSeen = true }, 5)
  const f = await ing.receiveUpload(tk.uploadUrl, tk.contentType, stream)
  clearInterval(sampler)
  clearInterval(probe)
  assert.equal(f.size, blocks * 65536)
  assert.equal(f.sha256, hash.digest('hex'))
  assert.ok(progressSeen, 'the stream was read while the upload ran, not before it')
  const grown = (peak - base) / (1 << 20)
  assert.ok(grown < 48, `memory grew by ${grown.toFixed(1)} MiB for a 96 MiB upload`)
})

test('a failing stream fails the upload, which can then be sent again', async (t) => {
  const ing = await popIngestor(t)
  const tk = await ing.createUpload('x.ndjson', 'ndjson')
  let n = 0
  const bad = new Readable({
    read() {
      if (n++ < 3) this.push(Buffer.from(popRow(n)))
      else this.destroy(new Error('connection reset by peer'))
    },
  })
  const e = await rejectsWith(() => ing.receiveUpload(tk.uploadUrl, tk.contentType, bad), 'STORAGE_ERROR')
  assert.match(e.message, /connection reset by peer/)
  const ok = await ing.receiveUpload(tk.uploadUrl, tk.contentType, Readable.from([readTestdata('pop_valid.ndjson')]))
  assert.equal(ok.size, readTestdata('pop_valid.ndjson').length)
})

test('validate runs off the event loop: timers keep firing', async () => {
  const rows = 150_000
  const parts = []
  for (let i = 0; i < rows; i++) parts.push(popRow(i))
  const buf = Buffer.from(parts.join(''))
  let ticks = 0
  const timer = setInterval(() => { ticks++ }, 1)
  const started = performance.now()
  const v = await validate(buf, 'ndjson', popSchema, { threads: 1 })
  const ms = performance.now() - started
  clearInterval(timer)
  assert.equal(v.totalRows, rows)
  assert.equal(v.validRows, rows)
  assert.ok(ms > 20, `validation took ${ms} ms: too short to show anything`)
  assert.ok(ticks >= 5, `only ${ticks} timer ticks during ${ms.toFixed(0)} ms of validation`)
})

test('validate agrees with testdata/expected.json', async () => {
  for (const [name, exp] of Object.entries(expected)) {
    const schema = exp.dataset === 'pop' ? popSchema : contentSchema
    const run = () => validate(name.endsWith('.gz') ? readTestdata(name) : testdata(name), exp.format, schema)
    if (exp.fileError) {
      await rejectsWith(run, exp.fileError)
      continue
    }
    const v = await run()
    assert.equal(v.totalRows, exp.totalRows, name)
    assert.equal(v.validRows, exp.validRows, name)
    assert.equal(v.errorRows, exp.errorRows, name)
    assert.deepEqual(v.errors.map((e) => [e.row, e.line ?? null, e.field ?? null, e.code]), exp.errors, name)
  }
})

test('a JavaScript sink gets the valid rows with their row numbers', async (t) => {
  const ing = await popIngestor(t)
  const f = await uploadFile(ing, 'pop_mixed.csv', 'csv')
  const j = await ing.startIngest(f.fileId, 'pop', '1.0')
  const got = []
  const s = await ing.runJob(j.jobId, async (batch) => {
    assert.equal(batch.jobId, j.jobId)
    assert.equal(batch.dataset, 'pop')
    assert.equal(batch.schemaVersion, '1.0')
    await new Promise((r) => setTimeout(r, 5))
    got.push(...batch.rows)
  })
  assert.equal(s.status, 'partially_completed')
  assert.equal(got.length, expected['pop_mixed.csv'].validRows)
  const failedRows = new Set(expected['pop_mixed.csv'].errors.map((e) => e[0]))
  for (const r of got) assert.ok(!failedRows.has(r.row), `row ${r.row} failed validation`)
  assert.deepEqual(got.map((r) => r.row), [...got.map((r) => r.row)].sort((a, b) => a - b))
  assert.equal(got[0].row, 1)
  assert.equal(got[0].line, 2, 'CSV: the header is line 1')
  assert.equal(typeof got[0].values.durationMs, 'number', 'values are typed by the schema')
  assert.match(got[0].values.eventId, /^[0-9a-f-]{36}$/)
  // The rows went to the sink, not to the default table.
})

for (const how of ['throws', 'rejects']) {
  test(`a sink that ${how} fails the job with its message and keeps committed rows`, async (t) => {
    const ing = await popIngestor(t, { commitRows: 2, chunkSize: 256, threads: 1 })
    const body = Array.from({ length: 12 }, (_, i) => popRow(i + 1)).join('')
    const tk = await ing.createUpload('s.ndjson', 'ndjson')
    await ing.receiveUpload(tk.uploadUrl, tk.contentType, Buffer.from(body))
    const j = await ing.startIngest(tk.fileId, 'pop', '1.0')
    let batches = 0
    let delivered = 0
    const s = await ing.runJob(j.jobId, (batch) => {
      batches++
      if (batches === 3) {
        if (how === 'throws') throw new Error('warehouse is full')
        return Promise.reject(new Error('warehouse is full'))
      }
      delivered += batch.rows.length
      return how === 'rejects' ? Promise.resolve() : undefined
    })
    assert.equal(s.status, 'failed')
    assert.equal(s.error.code, 'STORAGE_ERROR')
    assert.match(s.error.message, /warehouse is full/)
    assert.ok(delivered > 0 && delivered < 12, `${delivered}`)
    assert.equal(s.processedRows, delivered, 'every committed row is counted, none more')
  })
}

test('setSink routes a dataset to a callback run by the worker threads', async (t) => {
  const ing = await popIngestor(t, { workers: 1 })
  const rows = []
  ing.setSink('pop', (batch) => { rows.push(...batch.rows.map((r) => r.row)) })
  const f = await uploadFile(ing, 'pop_valid.json', 'json')
  const j = await ing.startIngest(f.fileId, 'pop', '1.0')
  const s = await ing.wait(j.jobId, 30)
  assert.equal(s.status, 'completed')
  assert.deepEqual(rows, [1, 2, 3, 4, 5])
})

test('every library error code, raised where the design says', async (t) => {
  const seen = new Set()
  const expectCode = async (code, fn) => {
    const e = await rejectsWith(fn, code)
    assert.ok(e.message.length > 0)
    seen.add(code)
    return e
  }
  const ing = await popIngestor(t, { maxUploadBytes: 4096 })
  await expectCode('INVALID_REQUEST', () => ing.createUpload('a', 'xml'))
  await expectCode('INVALID_REQUEST', () => ing.createUpload('a', 'csv', 0))
  await expectCode('INVALID_REQUEST', () => ing.registerSchema('bad name!', '1.0', popSchema))
  await expectCode('INVALID_REQUEST', () => ing.report('job-x', 'xml'))
  await expectCode('INVALID_SCHEMA', () => ing.registerSchema('x', '1.0', { type: 'object', properties: { a: { type: 'string', if: {} } } }))
  await expectCode('INVALID_SCHEMA', () => validate(Buffer.from(''), 'ndjson', 'not json'))
  const tk = await ing.createUpload('a.ndjson', 'ndjson')
  await expectCode('UNSUPPORTED_MEDIA_TYPE', () => ing.receiveUpload(tk.uploadUrl, 'text/csv', Buffer.from('x')))
  await expectCode('INVALID_SIGNATURE', () => ing.receiveUpload(tk.uploadUrl.replace(/sig=(.)/, (m, c) => `sig=${c === '0' ? '1' : '0'}`), tk.contentType, Buffer.from('x')))
  await expectCode('FILE_TOO_LARGE', () => ing.receiveUpload(tk.uploadUrl, tk.contentType, Buffer.alloc(5000, 'x')))
  await expectCode('UPLOAD_NOT_RECEIVED', () => ing.startIngest(tk.fileId, 'pop', '1.0'))
  await ing.receiveUpload(tk.uploadUrl, tk.contentType, readTestdata('pop_valid.ndjson'))
  await expectCode('UPLOAD_ALREADY_RECEIVED', () => ing.receiveUpload(tk.uploadUrl, tk.contentType, Buffer.from('x')))
  await expectCode('FILE_NOT_FOUND', () => ing.startIngest('file-20250101-000000000000000000000000', 'pop', '1.0'))
  await expectCode('SCHEMA_NOT_FOUND', () => ing.startIngest(tk.fileId, 'pop', '9.9'))
  await expectCode('MAX_ROW_COUNT_EXCEEDED', () => ing.startIngest(tk.fileId, 'pop', '1.0', null, { maxRows: 2 }))
  await expectCode('JOB_NOT_FOUND', () => ing.job('job-20250101-nope'))
  await expectCode('JOB_NOT_FOUND', () => ing.wait('job-20250101-nope', 1))
  for (const [name, exp] of Object.entries(expected)) {
    if (!exp.fileError || exp.dataset !== 'pop') continue
    const f = await uploadFile(ing, name, exp.format)
    await expectCode(exp.fileError, () => ing.startIngest(f.fileId, 'pop', '1.0'))
  }
  const job = await ing.startIngest(tk.fileId, 'pop', '1.0')
  assert.equal((await ing.runJob(job.jobId)).status, 'completed')
  await expectCode('INVALID_STATE_TRANSITION', () => ing.cancel(job.jobId))
  // The error limit: the job fails as a whole with the code.
  const mixed = await uploadFile(ing, 'pop_mixed.ndjson', 'ndjson')
  const limited = await ing.startIngest(mixed.fileId, 'pop', '1.0', null, { maxErrorRows: 1 })
  const failed = await ing.runJob(limited.jobId)
  assert.equal(failed.status, 'failed')
  assert.equal(failed.error.code, 'ERROR_LIMIT_EXCEEDED')
  seen.add(failed.error.code)
  // An expired URL (the signature is checked first, then the time).
  const short = await ing.createUpload('late.ndjson', 'ndjson', 1)
  await new Promise((r) => setTimeout(r, 2100))
  await expectCode('UPLOAD_URL_EXPIRED', () => ing.receiveUpload(short.uploadUrl, short.contentType, Buffer.from('x')))
  // Storage: a data directory that cannot be created; a closed ingestor.
  const e = (() => { try { return new Ingestor('/proc/self/no-such-dir/data') } catch (e) { return e } })()
  assert.ok(e instanceof Error)
  assert.equal(e.code, 'STORAGE_ERROR')
  seen.add(e.code)
  const closed = new Ingestor(tempDir(t, 'closed'), { workers: 0 })
  await closed.close()
  await expectCode('INVALID_REQUEST', () => closed.job('job-x'))
  // UNAUTHORIZED is for hosts (the library keeps no keys): the example server test covers it.
  assert.deepEqual([...seen].sort(), errorCodes().filter((c) => c !== 'UNAUTHORIZED').sort())
})

test('Ingestor.open opens off the event loop; a second process-wide handle sees the same data', async (t) => {
  const dir = tempDir(t, 'open')
  const a = await Ingestor.open(dir, { workers: 0, secret: 'shared-secret' })
  assert.ok(a instanceof Ingestor)
  await a.registerSchema('pop', '1.0', popSchema)
  const f = await uploadFile(a, 'pop_valid.ndjson', 'ndjson')
  const j = await a.startIngest(f.fileId, 'pop', '1.0')
  await a.close()
  const b = await Ingestor.open(dir, { workers: 0, secret: Buffer.from('shared-secret') })
  t.after(() => b.close())
  assert.equal((await b.runJob(j.jobId)).status, 'completed')
  await rejectsWith(() => Ingestor.open('/proc/self/no-such-dir/data'), 'STORAGE_ERROR')
  await rejectsWith(() => Ingestor.open(dir, { leaseSeconds: 0.01 }), 'INVALID_REQUEST')
})

test('arguments of the wrong kind are INVALID_REQUEST errors', async (t) => {
  const ing = await popIngestor(t)
  await rejectsWith(() => ing.wait('job-x', -1), 'INVALID_REQUEST')
  await rejectsWith(() => ing.startIngest('f', 'pop', '1.0', null, { maxRows: 1.5 }), 'INVALID_REQUEST')
  await rejectsWith(() => ing.signedReportUrl('job-x', 60, 'everything'), 'INVALID_REQUEST')
  assert.throws(() => new Ingestor(tempDir(t, 'opt'), { workers: -1 }), (e) => e.code === 'INVALID_REQUEST')
  await rejectsWith(async () => ing.receiveUpload('u', 'text/csv', 42), 'INVALID_REQUEST')
  await rejectsWith(async () => ing.receiveUpload('u', 'text/csv', { not: 'a stream' }), 'INVALID_REQUEST')
})
