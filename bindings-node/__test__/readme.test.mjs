// The README's Node example, cut out of README.md and run as it is written.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'

import { HERE, ROOT, tempDir } from './helpers.mjs'

test('the README Node example runs and prints what its comments say', (t) => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
  const section = readme.slice(readme.indexOf('## Embedding the library (Node)'))
  const code = section.match(/```js\n([\s\S]*?)```/)[1]
  const dir = tempDir(t, 'readme')
  const script = join(dir, 'example.mjs')
  writeFileSync(script, code
    .replace("from 'bulk-ingest'", `from ${JSON.stringify(pathToFileURL(join(HERE, '..', 'index.js')).href)}`)
    .replace("'bulk-ingest-data'", JSON.stringify(join(dir, 'data'))))
  const out = execFileSync(process.execPath, [script], { cwd: ROOT, encoding: 'utf8' })
  const said = [...code.matchAll(/console\.log\([^\n]*\/\/ (.*)$/gm)].map((m) => m[1].trim())
  assert.deepEqual(out.trim().split('\n'), said)
  assert.equal(said.length, 3)
})
