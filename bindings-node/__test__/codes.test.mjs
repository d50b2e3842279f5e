// The TypeScript unions in index.d.ts against the core's lists of codes: a code added to the
// core and not to the binding (or the other way round) fails here.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'

import { HERE, lib } from './helpers.mjs'

const dts = readFileSync(join(HERE, '..', 'index.d.ts'), 'utf8')

function union(name) {
  const m = dts.match(new RegExp(`export type ${name} =([^\\n]+)`))
  assert.ok(m, `index.d.ts declares no ${name}`)
  return m[1].split('|').map((s) => s.trim().replace(/^'|'$/g, ''))
}

test('ErrorCode in index.d.ts is exactly the core ERROR_CODES', () => {
  assert.deepEqual(union('ErrorCode'), lib.errorCodes())
  assert.equal(lib.errorCodes().length, 19)
})

test('RowErrorCode in index.d.ts is exactly the core ROW_ERROR_CODES', () => {
  assert.deepEqual(union('RowErrorCode'), lib.rowErrorCodes())
})

test('thrown errors carry their code as Error.code', async () => {
  const e = await lib.validate(Buffer.from('{}'), 'yaml', '{}').catch((e) => e)
  assert.ok(e instanceof Error)
  assert.equal(e.code, 'INVALID_REQUEST')
  assert.ok(lib.errorCodes().includes(e.code))
  assert.match(e.message, /yaml/)
})

test('index.d.ts types every method of the library API', () => {
  for (const m of ['registerSchema', 'createUpload', 'receiveUpload', 'startIngest', 'job', 'wait',
    'cancel', 'report', 'failedRows', 'signedReportUrl', 'runPending', 'runJob']) {
    assert.match(dts, new RegExp(`\\n  ${m}\\(.*\\): Promise<`), m)
    assert.equal(typeof lib.Ingestor.prototype[m], 'function', m)
  }
  assert.match(dts, /export declare function validate\(pathOrBuffer: string \| Buffer, format: Format, schema: /)
  assert.match(dts, /startedAt: Date \| null/)
})
