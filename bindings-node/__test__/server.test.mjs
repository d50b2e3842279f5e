// The example servers driven over HTTP: the POP seed's workflow and its error answers. The same
// test runs against examples/node/server.mjs (Express over this package) and against the Rust
// example server, and the two transcripts must be identical.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { createInterface } from 'node:readline'

import { ROOT, expected, readTestdata, tempDir } from './helpers.mjs'

const KEY1 = 'test-key-one-5f0c2b7e9a1d'
const KEY2 = 'test-key-two-8e3a6c1f4b2d'
const POP = '/coatro/v1/pop/dynamic/bulk'
const RUST_SERVER = join(process.env.CARGO_TARGET_DIR || join(ROOT, 'target'), 'debug', 'examples', 'server')

/** Starts a server on a free port; resolves to its base URL once it listens. */
async function startServer(t, cmd, args, env = {}) {
  const child = spawn(cmd, [...args, '--addr', '127.0.0.1:0', '--data-dir', tempDir(t, 'srv')], {
    cwd: ROOT,
    env: { ...process.env, BULK_INGEST_API_KEYS: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const log = []
  createInterface({ input: child.stderr }).on('line', (l) => log.push(l))
  t.after(() => child.kill('SIGKILL'))
  const base = await new Promise((resolve, reject) => {
    const rl = createInterface({ input: child.stdout })
    rl.on('line', (l) => {
      const m = l.match(/^listening on (.*)$/)
      if (m) resolve(m[1])
    })
    child.on('exit', (code) => reject(new Error(`server exited (${code}) before listening:\n${log.join('\n')}`)))
  })
  return { base, log }
}

const nodeServer = (t, env) => startServer(t, process.execPath,
  [join(ROOT, 'examples', 'node', 'server.mjs'), '--api-key', KEY1], env)
const rustServer = (t, env) => startServer(t, RUST_SERVER, ['--api-key', KEY1], env)

async function call(base, method, path, { key, json, body, contentType } = {}) {
  const headers = {}
  if (key) headers['x-api-key'] = key
  if (json !== undefined) {
    headers['content-type'] = contentType ?? 'application/json'
    body = typeof json === 'string' ? json : JSON.stringify(json)
  } else if (contentType) {
    headers['content-type'] = contentType
  }
  const url = path.startsWith('http') ? path : base + path
  const r = await fetch(url, { method, headers, body, redirect: 'manual' })
  const text = await r.text()
  const ct = r.headers.get('content-type')
  return {
    status: r.status,
    contentType: ct,
    location: r.headers.get('location'),
    disposition: r.headers.get('content-disposition'),
    body: ct === 'application/json' ? JSON.parse(text) : text,
  }
}

/** The POP workflow and its refusals; returns every answer, ids and times made generic. */
async function popTranscript(base) {
  const out = []
  const record = (name, r) => { out.push([name, r]); return r }
  const ndjson = readTestdata('pop_valid.ndjson')

  record('no key', await call(base, 'POST', `${POP}/upload-url`, { json: { fileName: 'a', format: 'ndjson' } }))
  record('bad key', await call(base, 'POST', `${POP}/upload-url`, { key: 'nope', json: { fileName: 'a', format: 'ndjson' } }))
  record('second key env', await call(base, 'POST', `${POP}/upload-url`, { key: KEY2, json: { fileName: 'a', format: 'ndjson' } }))
  record('not json type', await call(base, 'POST', `${POP}/upload-url`, { key: KEY1, json: '{}', contentType: 'text/plain' }))
  record('not an object', await call(base, 'POST', `${POP}/upload-url`, { key: KEY1, json: '[1]' }))
  record('no fileName', await call(base, 'POST', `${POP}/upload-url`, { key: KEY1, json: { format: 'csv' } }))
  record('bad format', await call(base, 'POST', `${POP}/upload-url`, { key: KEY1, json: { fileName: 'a', format: 'xml' } }))
  record('no format', await call(base, 'POST', `${POP}/upload-url`, { key: KEY1, json: { fileName: 'a' } }))
  record('bad expiry', await call(base, 'POST', `${POP}/upload-url`, { key: KEY1, json: { fileName: 'a', format: 'csv', expiresInSeconds: 86401 } }))

  // Step 1-2: the upload URL and the signed PUT.
  const t = record('upload-url', await call(base, 'POST', `${POP}/upload-url`, { key: KEY1, json: { fileName: 'pop.ndjson', format: 'ndjson', expiresInSeconds: 3600 } })).body
  record('forged PUT', await call(base, 'PUT', t.uploadUrl.replace(/sig=(.)/, (m, c) => `sig=${c === '0' ? '1' : '0'}`), { body: ndjson, contentType: 'application/x-ndjson' }))
  record('wrong type PUT', await call(base, 'PUT', t.uploadUrl, { body: ndjson, contentType: 'text/csv' }))
  record('PUT', await call(base, 'PUT', t.uploadUrl, { body: ndjson, contentType: 'application/x-ndjson' }))
  record('second PUT', await call(base, 'PUT', t.uploadUrl, { body: ndjson, contentType: 'application/x-ndjson' }))

  // Step 3-4: ingest, poll the status until the job is terminal.
  record('ingest no schemaVersion', await call(base, 'POST', `${POP}/ingest`, { key: KEY1, json: { fileId: t.fileId } }))
  record('ingest bad metadata', await call(base, 'POST', `${POP}/ingest`, { key: KEY1, json: { fileId: t.fileId, schemaVersion: '1.0', metadata: [1] } }))
  record('ingest unknown file', await call(base, 'POST', `${POP}/ingest`, { key: KEY1, json: { fileId: 'file-20250101-000000000000000000000000', schemaVersion: '1.0' } }))
  record('ingest unknown schema', await call(base, 'POST', `${POP}/ingest`, { key: KEY1, json: { fileId: t.fileId, schemaVersion: '9.9' } }))
  const j = record('ingest', await call(base, 'POST', `${POP}/ingest`, { key: KEY1, json: { fileId: t.fileId, schemaVersion: '1.0', metadata: { source: 'daily_export' } } })).body
  record('done', await pollDone(base, j.jobId))
  record('cancel done', await call(base, 'POST', `${POP}/jobs/${j.jobId}/cancel`, { key: KEY1 }))

  // A file with bad rows: the counts, the errors, the reports through their 302.
  const m = (await call(base, 'POST', `${POP}/upload-url`, { key: KEY1, json: { fileName: 'mixed.csv', format: 'csv' } })).body
  record('PUT mixed', await call(base, 'PUT', m.uploadUrl, { body: readTestdata('pop_mixed.csv'), contentType: 'text/csv' }))
  const mj = (await call(base, 'POST', `${POP}/ingest`, { key: KEY1, json: { fileId: m.fileId, schemaVersion: '1.0' } })).body
  record('mixed done', await pollDone(base, mj.jobId))
  for (const [name, path] of [
    ['report', `${POP}/jobs/${mj.jobId}/report`],
    ['report ndjson', `${POP}/jobs/${mj.jobId}/report?format=ndjson`],
    ['failed rows', `${POP}/jobs/${mj.jobId}/failed-rows`],
  ]) {
    const r = record(name, await call(base, 'GET', path, { key: KEY1 }))
    record(`${name} download`, await call(base, 'GET', r.location))
    record(`${name} forged`, await call(base, 'GET', r.location.replace(/sig=(.)/, (x, c) => `sig=${c === '0' ? '1' : '0'}`)))
  }
  record('report bad format', await call(base, 'GET', `${POP}/jobs/${mj.jobId}/report?format=xml`, { key: KEY1 }))
  record('file error', await call(base, 'POST', `${POP}/ingest`, { key: KEY1, json: { fileId: await putFile(base, 'missing_columns.csv', 'csv'), schemaVersion: '1.0' } }))
  record('other tenant job', await call(base, 'GET', `${POP}/jobs/${mj.jobId}`, { key: KEY2 }))
  record('unknown job', await call(base, 'GET', `${POP}/jobs/job-20250101-nope`, { key: KEY1 }))
  record('unknown route', await call(base, 'GET', '/no/such/route', { key: KEY1 }))
  return normalize(out, base)
}

async function putFile(base, name, format) {
  const t = (await call(base, 'POST', `${POP}/upload-url`, { key: KEY1, json: { fileName: name, format } })).body
  await call(base, 'PUT', t.uploadUrl, { body: readTestdata(name), contentType: t.contentType })
  return t.fileId
}

/** Polls the job's status route until its state is terminal. */
async function pollDone(base, jobId) {
  const deadline = Date.now() + 60_000
  for (;;) {
    const r = await call(base, 'GET', `${POP}/jobs/${jobId}`, { key: KEY1 })
    if (r.status !== 200 || ['completed', 'partially_completed', 'failed', 'cancelled'].includes(r.body.status)) return r
    if (Date.now() > deadline) throw new Error(`job ${jobId} still ${r.body.status}`)
    await new Promise((res) => setImmediate(res))
  }
}

/** Ids, signatures, times and the port made generic; everything else stays as answered. */
function normalize(out, base) {
  const s = JSON.stringify(out)
    .replaceAll(base, 'BASE')
    .replace(/file-\d{8}-[0-9a-f]+/g, 'FILE')
    .replace(/job-\d{8}-[0-9a-f]{2,}/g, 'JOB')
    .replace(/expires=\d+/g, 'expires=T')
    .replace(/sig=[0-9a-f]+/g, 'sig=S')
    .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ/g, 'TIME')
    .replace(/"sha256":"[0-9a-f]{64}"/g, '"sha256":"SHA"')
  return JSON.parse(s)
}

function checkTranscript(tr) {
  const a = Object.fromEntries(tr)
  assert.equal(a['no key'].status, 401)
  assert.equal(a['no key'].body.code, 'UNAUTHORIZED')
  assert.equal(a['bad key'].status, 401)
  assert.equal(a['second key env'].status, 200, 'BULK_INGEST_API_KEYS adds keys')
  assert.equal(a['not json type'].status, 415)
  assert.equal(a['bad format'].body.code, 'INVALID_REQUEST')
  assert.match(a['bad expiry'].body.message, /expiresInSeconds/)
  const t = a['upload-url']
  assert.equal(t.status, 200)
  assert.deepEqual(Object.keys(t.body), ['fileId', 'uploadUrl', 'contentType', 'expiresAt', 'uploadInstructions'])
  assert.equal(t.body.uploadUrl, 'BASE/uploads/FILE?expires=T&sig=S')
  assert.equal(t.body.expiresAt, 'TIME')
  assert.equal(a['forged PUT'].status, 403)
  assert.equal(a['forged PUT'].body.code, 'INVALID_SIGNATURE')
  assert.equal(a['wrong type PUT'].status, 415)
  assert.equal(a.PUT.status, 200)
  assert.equal(a.PUT.body.size, readTestdata('pop_valid.ndjson').length)
  assert.equal(a['second PUT'].status, 409)
  assert.equal(a['ingest unknown file'].body.code, 'FILE_NOT_FOUND')
  assert.equal(a['ingest unknown schema'].body.code, 'SCHEMA_NOT_FOUND')
  assert.equal(a.ingest.status, 202)
  assert.deepEqual(a.ingest.body, { jobId: 'JOB', message: 'Job queued' })
  const done = a.done.body
  assert.equal(done.status, 'completed')
  assert.equal(done.processedRows, 5)
  assert.equal(done.completedAt, 'TIME')
  assert.deepEqual(done.metadata, { source: 'daily_export' })
  assert.equal(a['cancel done'].status, 409)
  const exp = expected['pop_mixed.csv']
  const mixed = a['mixed done'].body
  assert.equal(mixed.status, 'partially_completed')
  assert.equal(mixed.errorRows, exp.errorRows)
  assert.deepEqual(mixed.errors.map((e) => [e.row, e.line, e.field, e.code]), exp.errors)
  assert.ok(mixed.errors.every((e) => typeof e.error === 'string'))
  assert.equal(a.report.status, 302)
  assert.equal(a.report.location, 'BASE/downloads/JOB/errors.csv?expires=T&sig=S')
  assert.deepEqual(a.report.body, { url: a.report.location })
  assert.equal(a['report download'].status, 200)
  assert.equal(a['report download'].contentType, 'text/csv')
  assert.equal(a['report download'].disposition, 'attachment; filename="JOB-errors.csv"')
  assert.equal(a['report download'].body.trim().split('\n').length, 1 + exp.errorRows)
  assert.equal(a['failed rows download'].body.trim().split('\n').length, 1 + exp.errorRows, 'header + rows')
  assert.equal(a['report forged'].status, 403)
  assert.equal(a['report bad format'].status, 400)
  assert.equal(a['file error'].body.code, 'INVALID_FILE_TEMPLATE')
  assert.equal(a['other tenant job'].status, 404)
  assert.equal(a['unknown job'].body.code, 'JOB_NOT_FOUND')
  assert.equal(a['unknown route'].status, 404)
  assert.equal(a['unknown route'].body.code, 'NOT_FOUND')
}

test('examples/node/server.mjs answers the POP seed API', async (t) => {
  const { base, log } = await nodeServer(t, { BULK_INGEST_API_KEYS: ` ${KEY2} ,` })
  const tr = await popTranscript(base)
  checkTranscript(tr)
  assert.ok(log.some((l) => l.startsWith('PUT /uploads/{fileId} 200 ')), log.join('\n'))
  assert.ok(!log.some((l) => l.includes('sig=') || l.includes(KEY1)), log.join('\n'))
})

test('the Node and the Rust example servers answer exactly alike', async (t) => {
  if (!existsSync(RUST_SERVER)) {
    if (process.env.CI) assert.fail(`${RUST_SERVER} is missing: cargo build -p bulk-ingest-examples --example server`)
    t.skip(`${RUST_SERVER} is not built`)
    return
  }
  const env = { BULK_INGEST_API_KEYS: KEY2 }
  const [n, r] = await Promise.all([nodeServer(t, env), rustServer(t, env)])
  const [nt, rt] = await Promise.all([popTranscript(n.base), popTranscript(r.base)])
  checkTranscript(rt)
  assert.deepEqual(nt, rt)
})

test('the Node server generates a key when none is given', async (t) => {
  const child = spawn(process.execPath, [join(ROOT, 'examples', 'node', 'server.mjs'), '--addr', '127.0.0.1:0', '--data-dir', tempDir(t, 'gen')], {
    env: { ...process.env, BULK_INGEST_API_KEYS: '' }, stdio: ['ignore', 'pipe', 'inherit'],
  })
  t.after(() => child.kill('SIGKILL'))
  const lines = []
  const base = await new Promise((resolve) => {
    createInterface({ input: child.stdout }).on('line', (l) => {
      lines.push(l)
      const m = l.match(/^listening on (.*)$/)
      if (m) resolve(m[1])
    })
  })
  const key = lines[0].match(/generated one for this run: ([0-9a-f]{32})$/)[1]
  const r = await call(base, 'POST', `${POP}/upload-url`, { key, json: { fileName: 'a', format: 'csv' } })
  assert.equal(r.status, 200)
  assert.equal(createHash('sha256').update(key).digest('hex').length, 64)
})
