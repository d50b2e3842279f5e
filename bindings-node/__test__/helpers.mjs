// Shared by the tests: the built package, the shared testdata/ corpus, temporary directories.
import { createRequire } from 'node:module'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const require = createRequire(import.meta.url)
export const HERE = dirname(fileURLToPath(import.meta.url))
export const ROOT = join(HERE, '..', '..')
export const lib = require('../index.js')

export const testdata = (name) => join(ROOT, 'testdata', name)
export const readTestdata = (name) => readFileSync(testdata(name))
export const expected = JSON.parse(readFileSync(testdata('expected.json'), 'utf8'))
export const popSchema = readFileSync(join(ROOT, 'examples', 'schemas', 'pop-1.0.json'), 'utf8')
export const contentSchema = readFileSync(join(ROOT, 'examples', 'schemas', 'content-1.0.json'), 'utf8')

export const CONTENT_TYPES = { ndjson: 'application/x-ndjson', json: 'application/json', csv: 'text/csv' }

/** A fresh data directory, removed when the test ends. */
export function tempDir(t, tag) {
  const d = mkdtempSync(join(tmpdir(), `bulk-ingest-node-${tag}-`))
  t.after(() => rmSync(d, { recursive: true, force: true }))
  return d
}

/** An Ingestor on a fresh directory with the POP schema registered; closed when the test ends. */
export async function popIngestor(t, options = {}) {
  const ing = new lib.Ingestor(tempDir(t, 'ing'), { workers: 0, ...options })
  t.after(() => ing.close())
  await ing.registerSchema('pop', '1.0', popSchema)
  return ing
}

/** Uploads a testdata file (as a Buffer) and returns its UploadedFile. */
export async function uploadFile(ing, name, format, tenant) {
  const t = await ing.createUpload(name, format, undefined, tenant)
  return ing.receiveUpload(t.uploadUrl, t.contentType, readTestdata(name))
}

/** `fn` must reject with an Error whose code is `code`; returns the error. */
export async function rejectsWith(fn, code) {
  try {
    await fn()
  } catch (e) {
    if (!(e instanceof Error)) throw new Error(`expected an Error, got ${e}`)
    if (e.code !== code) throw new Error(`expected code ${code}, got ${e.code}: ${e.message}`)
    return e
  }
  throw new Error(`expected a ${code} error, but the call succeeded`)
}

/** A POP NDJSON file of `n` valid rows, generated. */
export function popRow(i) {
  const hex = i.toString(16).padStart(12, '0')
  return JSON.stringify({
    eventId: `6f1c1a52-8d4e-4b7a-9c3e-${hex}`,
    screenId: `SCR-${String(i % 1000000).padStart(6, '0')}`,
    creativeId: 'CR-1',
    campaignId: 'CMP-1',
    playedAt: '2025-12-10T09:01:00Z',
    durationMs: 15000,
    venueType: 'retail',
    playStatus: 'completed',
  }) + '\n'
}
