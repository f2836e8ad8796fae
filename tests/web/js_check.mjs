// Runs the page's pure JavaScript (preprocess.js, model.js) on the cases in a JSON file and writes the
// results as JSON, for tests/web/test_web_js_*.py to compare with the Python runtime.
// Usage: node js_check.mjs STATIC_DIR preprocess|decode CASES.json OUT.json
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const [staticDir, mode, casesFile, outFile] = process.argv.slice(2);
const cases = JSON.parse(readFileSync(casesFile, 'utf8'));
const b64 = (typed) => Buffer.from(typed.buffer, typed.byteOffset, typed.byteLength).toString('base64');
let results;
if (mode === 'preprocess') {
  const pre = await import(pathToFileURL(join(staticDir, 'preprocess.js')).href);
  results = cases.map((c) => {
    const rgba = new Uint8Array(Buffer.from(c.rgba, 'base64'));
    const r = pre.preprocessRGBA(rgba, c.width, c.height, c.spec, { pillowPassOrder: c.pillowPassOrder });
    return { pixels: b64(r.pixels), tensor: b64(r.data), dims: r.dims };
  });
} else if (mode === 'decode') {
  // model.js imports preprocess.js only; it touches `navigator`/`performance` inside functions, not at import
  const model = await import(pathToFileURL(join(staticDir, 'model.js')).href);
  results = cases.map((c) =>
    c.kind === 'ctc'
      ? model.ctcGreedy(Float32Array.from(c.logits), c.T, c.C, c.alphabet, c.blank)
      : model.classify(Float32Array.from(c.logits), c.labels, c.top_k),
  );
} else {
  throw new Error(`mode: got ${mode}; expected preprocess or decode`);
}
writeFileSync(outFile, JSON.stringify(results));
