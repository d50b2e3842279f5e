// The POP seed's bulk ingestion API (upload URL, signed PUT, ingest, job status, reports) on
// Express over the `bulk-ingest` package. It answers exactly as the Rust example server
// (`cargo run --example server`) does: same routes, statuses, JSON and headers, same flags.
//
//   node server.mjs [--addr 127.0.0.1:8080] [--data-dir DIR] [--api-key KEY]...
//       [--base-url URL] [--max-upload-bytes N] [--max-rows N] [--workers N] [--schemas DIR]
//
// API keys may also come from BULK_INGEST_API_KEYS (comma-separated).

import { createHash, randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

import express from 'express'
import { Ingestor } from 'bulk-ingest'

const HERE = dirname(fileURLToPath(import.meta.url))
const PREFIX = '/coatro/v1/pop/dynamic/bulk'
const DATASET = 'pop'
const MAX_JSON_BYTES = 1 << 20
const REPORT_URL_SECONDS = 3600
const DRAIN_LIMIT = 16 << 20
const USAGE = `usage: server [--addr 127.0.0.1:8080] [--data-dir DIR] [--api-key KEY]... [--base-url URL] \
[--max-upload-bytes N] [--max-rows N] [--workers N] [--schemas DIR]
API keys may also come from BULK_INGEST_API_KEYS (comma-separated).`

function parseArgs(argv) {
  const a = {
    addr: '127.0.0.1:8080',
    dataDir: 'bulk-ingest-data',
    apiKeys: [],
    baseUrl: null,
    maxUploadBytes: null,
    maxRows: null,
    workers: null,
    schemas: join(HERE, '..', 'schemas'),
  }
  const number = (name, v) => {
    if (!/^[0-9]+$/.test(v)) throw new Error(`${name}: '${v}' is not a valid number`)
    return Number(v)
  }
  for (let i = 0; i < argv.length; i++) {
    let name = argv[i]
    let inline = null
    const eq = name.indexOf('=')
    if (name.startsWith('--') && eq > 0) {
      inline = name.slice(eq + 1)
      name = name.slice(0, eq)
    }
    if (name === '-h' || name === '--help') return null
    const value = () => {
      if (inline !== null) return inline
      if (i + 1 >= argv.length) throw new Error(`${name} needs a value`)
      return argv[++i]
    }
    switch (name) {
      case '--addr': a.addr = value(); break
      case '--data-dir': a.dataDir = value(); break
      case '--api-key': {
        const k = value().trim()
        if (!k) throw new Error('--api-key must not be empty')
        a.apiKeys.push(k)
        break
      }
      case '--base-url': a.baseUrl = value().replace(/\/+$/, ''); break
      case '--max-upload-bytes': a.maxUploadBytes = number(name, value()); break
      case '--max-rows': a.maxRows = number(name, value()); break
      case '--workers': a.workers = number(name, value()); break
      case '--schemas': a.schemas = value(); break
      default: throw new Error(`unknown option ${name}`)
    }
  }
  if (a.maxUploadBytes === 0) throw new Error('--max-upload-bytes must be at least 1')
  return a
}

const sha256Hex = (s) => createHash('sha256').update(s).digest('hex')
const tenantForKey = (k) => `key-${sha256Hex(k).slice(0, 32)}`

/** RFC 3339 in UTC with second precision, as the library prints times. */
const rfc3339 = (d) => (d ? d.toISOString().replace(/\.\d{3}Z$/, 'Z') : null)

/** The one place where a library error code becomes an HTTP status. */
const STATUS = {
  INVALID_REQUEST: 400,
  UNAUTHORIZED: 401,
  UNSUPPORTED_MEDIA_TYPE: 415,
  FILE_NOT_FOUND: 400,
  JOB_NOT_FOUND: 404,
  SCHEMA_NOT_FOUND: 400,
  INVALID_SCHEMA: 400,
  UPLOAD_URL_EXPIRED: 403,
  INVALID_SIGNATURE: 403,
  UPLOAD_ALREADY_RECEIVED: 409,
  UPLOAD_NOT_RECEIVED: 400,
  FILE_TOO_LARGE: 413,
  INVALID_FILE_FORMAT: 400,
  CORRUPTED_FILE: 400,
  INVALID_FILE_TEMPLATE: 400,
  MAX_ROW_COUNT_EXCEEDED: 400,
  ERROR_LIMIT_EXCEEDED: 400,
  INVALID_STATE_TRANSITION: 409,
  STORAGE_ERROR: 500,
}

class ApiError extends Error {
  constructor(status, code, message) {
    super(message)
    this.status = status
    this.code = code
  }
}
const invalid = (m) => new ApiError(400, 'INVALID_REQUEST', m)
const unauthorized = (m) => new ApiError(401, 'UNAUTHORIZED', m)

/** A library error (an `Error` with a stable `code`) as an HTTP answer. */
function apiError(e) {
  if (e instanceof ApiError) return e
  const status = STATUS[e.code] ?? 500
  if (status >= 500) {
    console.error(`error: ${e.code ?? 'INTERNAL_ERROR'}: ${e.message}`)
    return new ApiError(status, e.code in STATUS ? e.code : 'INTERNAL_ERROR',
      'the server could not complete the request; see its log')
  }
  return new ApiError(status, e.code, e.message)
}

function sendJson(res, status, body, headers = {}) {
  const text = JSON.stringify(body)
  res.statusCode = status
  for (const [k, v] of Object.entries(headers)) res.setHeader(k, v)
  res.setHeader('content-type', 'application/json')
  res.setHeader('content-length', Buffer.byteLength(text))
  res.end(text)
}

function sendError(res, e) {
  const a = apiError(e)
  sendJson(res, a.status, { code: a.code, message: a.message })
}

/** Reads the rest of a refused request's body (bounded) so the client reads the answer. */
async function drain(req) {
  let left = DRAIN_LIMIT
  try {
    for await (const chunk of req) {
      left -= chunk.length
      if (left <= 0) break
    }
  } catch {}
}

function mimeOf(req) {
  const v = req.headers['content-type']
  return v === undefined ? null : v.split(';')[0].trim().toLowerCase()
}

async function jsonObject(req) {
  if (mimeOf(req) !== 'application/json') {
    await drain(req)
    throw new ApiError(415, 'UNSUPPORTED_MEDIA_TYPE', 'Content-Type must be application/json')
  }
  const chunks = []
  let size = 0
  for await (const c of req) {
    size += c.length
    if (size > MAX_JSON_BYTES) {
      throw invalid(`the request body could not be read (at most ${MAX_JSON_BYTES} bytes)`)
    }
    chunks.push(c)
  }
  let v
  try {
    v = JSON.parse(Buffer.concat(chunks).toString('utf8'))
  } catch (e) {
    throw invalid(`the request body is not valid JSON: ${e.message}`)
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) {
    throw invalid('the request body must be a JSON object')
  }
  return v
}

function requiredStr(obj, name) {
  const v = obj[name]
  if (typeof v === 'string' && v.trim() !== '') return v
  if (v === undefined || v === null || typeof v === 'string') throw invalid(`${name} is required`)
  throw invalid(`${name} must be a string`)
}

const isWhole = (v) => Number.isSafeInteger(v) && v >= 0

function jobOptions(o) {
  const out = {}
  for (const name of ['maxErrorRows', 'maxRows', 'errorSample']) {
    const v = o[name]
    if (v === undefined || v === null) continue
    if (!isWhole(v) || (name === 'errorSample' && v > 0xffffffff)) {
      throw invalid(`options: ${name} must be a whole number of at least 0; got ${JSON.stringify(v)}`)
    }
    out[name] = v
  }
  return out
}

/** A job as the API shows it: the seed's fields in its order, then the library's extras. */
function jobJson(s) {
  return {
    jobId: s.jobId,
    status: s.status,
    totalRows: s.totalRows,
    processedRows: s.processedRows,
    errorRows: s.errorRows,
    errors: s.errors.map((e) => ({
      row: e.row, error: e.message, line: e.line, field: e.field, code: e.code,
    })),
    startedAt: rfc3339(s.startedAt),
    completedAt: rfc3339(s.completedAt),
    createdAt: rfc3339(s.createdAt),
    fileId: s.fileId,
    dataset: s.dataset,
    schemaVersion: s.schemaVersion,
    metadata: s.metadata,
    error: s.error ? { code: s.error.code, message: s.error.message } : null,
  }
}

export function app(ingestor, tenants, maxRows) {
  const keyTenant = (req) => {
    const key = (req.headers['x-api-key'] ?? '').trim()
    if (!key) throw unauthorized('missing API key: send it in the X-API-Key header')
    const t = tenants.get(sha256Hex(key))
    if (!t) throw unauthorized('invalid API key')
    return t
  }
  const keyedJson = async (req) => {
    let tenant
    try {
      tenant = keyTenant(req)
    } catch (e) {
      await drain(req)
      throw e
    }
    return [tenant, await jsonObject(req)]
  }
  // Every handler answers through here: a thrown library error becomes its coded answer.
  const handle = (f) => async (req, res) => {
    try {
      await f(req, res)
    } catch (e) {
      sendError(res, e)
    }
  }
  const redirectToReport = async (res, tenant, jobId, kind) => {
    const url = await ingestor.signedReportUrl(jobId, REPORT_URL_SECONDS, kind, tenant)
    sendJson(res, 302, { url }, { location: url })
  }

  const a = express()
  a.disable('x-powered-by')
  a.disable('etag')
  a.set('query parser', 'simple')
  // One line per request on stderr: method, route pattern (never the query), status, ms.
  a.use((req, res, next) => {
    const start = process.hrtime.bigint()
    res.on('finish', () => {
      const route = req.route ? req.baseUrl + req.route.path.replace(/:(\w+)/g, '{$1}') : req.path
      const ms = Number(process.hrtime.bigint() - start) / 1e6
      console.error(`${req.method} ${route} ${res.statusCode} ${ms.toFixed(1)}ms`)
    })
    next()
  })

  a.post(`${PREFIX}/upload-url`, handle(async (req, res) => {
    const [tenant, obj] = await keyedJson(req)
    const fileName = requiredStr(obj, 'fileName')
    const format = obj.format
    if (format === undefined || format === null) {
      throw invalid('format is required: one of ndjson, json, csv')
    }
    if (typeof format !== 'string') throw invalid('format must be a string: one of ndjson, json, csv')
    let expires = obj.expiresInSeconds
    if (expires === null) expires = undefined
    if (expires !== undefined && !(Number.isSafeInteger(expires) && expires >= 1 && expires <= 86400)) {
      throw invalid(`expiresInSeconds must be an integer between 1 and 86400 (one day); got ${JSON.stringify(expires)}`)
    }
    const t = await ingestor.createUpload(fileName, format, expires, tenant)
    sendJson(res, 200, {
      fileId: t.fileId,
      uploadUrl: t.uploadUrl,
      contentType: t.contentType,
      expiresAt: rfc3339(t.expiresAt),
      uploadInstructions: t.uploadInstructions,
    })
  }))

  // The signed PUT: no key, the signature is the authority. The request streams to the library.
  a.put('/uploads/:fileId', handle(async (req, res) => {
    const f = await ingestor.receiveUpload(req.originalUrl, req.headers['content-type'] ?? '', req)
    sendJson(res, 200, {
      fileId: f.fileId,
      fileName: f.fileName,
      format: f.format,
      size: f.size,
      sha256: f.sha256,
      receivedAt: rfc3339(f.receivedAt),
    })
  }))

  a.post(`${PREFIX}/ingest`, handle(async (req, res) => {
    const [tenant, obj] = await keyedJson(req)
    const fileId = requiredStr(obj, 'fileId')
    const schemaVersion = requiredStr(obj, 'schemaVersion')
    let metadata = obj.metadata ?? null
    if (metadata !== null && (typeof metadata !== 'object' || Array.isArray(metadata))) {
      throw invalid('metadata must be a JSON object')
    }
    let options = {}
    if (obj.options !== undefined && obj.options !== null) {
      if (typeof obj.options !== 'object' || Array.isArray(obj.options)) {
        throw invalid('options must be a JSON object')
      }
      options = jobOptions(obj.options)
    }
    if (maxRows !== null) options.maxRows = Math.min(options.maxRows ?? maxRows, maxRows)
    const job = await ingestor.startIngest(fileId, DATASET, schemaVersion, metadata, options, tenant)
    sendJson(res, 202, { jobId: job.jobId, message: 'Job queued' })
  }))

  a.get(`${PREFIX}/jobs/:jobId`, handle(async (req, res) => {
    const tenant = keyTenant(req)
    sendJson(res, 200, jobJson(await ingestor.job(req.params.jobId, tenant)))
  }))

  a.post(`${PREFIX}/jobs/:jobId/cancel`, handle(async (req, res) => {
    const tenant = keyTenant(req)
    sendJson(res, 200, jobJson(await ingestor.cancel(req.params.jobId, tenant)))
  }))

  a.get(`${PREFIX}/jobs/:jobId/report`, handle(async (req, res) => {
    const tenant = keyTenant(req)
    const format = req.query.format
    const f = format === undefined || format === '' ? 'csv' : String(format)
    if (f !== 'csv' && f !== 'ndjson') {
      throw invalid(`report format '${f}' is not supported; use csv or ndjson`)
    }
    const kind = `errors.${f}`
    await redirectToReport(res, tenant, req.params.jobId, kind)
  }))

  a.get(`${PREFIX}/jobs/:jobId/failed-rows`, handle(async (req, res) => {
    const tenant = keyTenant(req)
    await redirectToReport(res, tenant, req.params.jobId, 'failed-rows')
  }))

  // Signed downloads: no key, the signature is the authority.
  a.get('/downloads/:jobId/:kind', handle(async (req, res) => {
    const d = await ingestor.download(req.originalUrl)
    const safeName = d.fileName.replace(/[^A-Za-z0-9._-]/g, '_')
    res.statusCode = 200
    res.setHeader('content-type', d.contentType)
    res.setHeader('content-disposition', `attachment; filename="${safeName}"`)
    res.setHeader('content-length', d.body.length)
    res.end(d.body)
  }))

  a.use((req, res) => {
    sendError(res, new ApiError(404, 'NOT_FOUND', `no route for ${req.method} ${req.path}`))
  })
  return a
}

async function main() {
  let args
  try {
    args = parseArgs(process.argv.slice(2))
  } catch (e) {
    console.error(`error: ${e.message}\n${USAGE}`)
    process.exit(2)
  }
  if (args === null) {
    console.log(USAGE)
    return
  }
  const keys = [...args.apiKeys]
  for (const k of (process.env.BULK_INGEST_API_KEYS ?? '').split(',')) {
    if (k.trim()) keys.push(k.trim())
  }
  if (keys.length === 0) {
    const key = randomBytes(16).toString('hex')
    console.log(`no API key given (--api-key or BULK_INGEST_API_KEYS): generated one for this run: ${key}`)
    keys.push(key)
  }
  const tenants = new Map(keys.map((k) => [sha256Hex(k), tenantForKey(k)]))

  const colon = args.addr.lastIndexOf(':')
  const host = args.addr.slice(0, colon).replace(/^\[|\]$/g, '')
  const port = Number(args.addr.slice(colon + 1))
  // Listen first (so port 0 gives the base URL), then open the library and take requests.
  const server = (await import('node:http')).createServer()
  await new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, resolve)
  }).catch((e) => {
    console.error(`error: cannot listen on ${args.addr}: ${e.message}`)
    process.exit(1)
  })
  const addr = server.address()
  const local = addr.family === 'IPv6' ? `[${addr.address}]:${addr.port}` : `${addr.address}:${addr.port}`
  const options = { baseUrl: args.baseUrl ?? `http://${local}` }
  if (args.workers !== null) options.workers = args.workers
  if (args.maxUploadBytes !== null) options.maxUploadBytes = args.maxUploadBytes
  let ingestor
  try {
    ingestor = new Ingestor(args.dataDir, options)
    const path = join(args.schemas, 'pop-1.0.json')
    await ingestor.registerSchema(DATASET, '1.0', readFileSync(path, 'utf8'))
  } catch (e) {
    console.error(`error: cannot open the data directory ${args.dataDir}: ${e.code ?? ''} ${e.message}`)
    process.exit(1)
  }
  server.on('request', app(ingestor, tenants, args.maxRows))
  console.log(`listening on http://${local}`)
  const stop = () => {
    console.error('shutting down: running jobs stop after their current commit and resume on the next start')
    server.close()
    server.closeAllConnections?.()
    ingestor.close().then(() => process.exit(0))
  }
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main()
}
