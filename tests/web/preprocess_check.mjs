// Runs edgeseq/web/static/preprocess.js on the cases in argv[2] (JSON) and writes results to argv[3].
// Used by test_web_preprocess_js.py to compare the JavaScript preprocessing with Pillow + numpy.
import { readFileSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

const [moduleFile, casesFile, outFile] = process.argv.slice(2);
const pre = await import(pathToFileURL(moduleFile).href);
const cases = JSON.parse(readFileSync(casesFile, 'utf8'));
const b64 = (typed) => Buffer.from(typed.buffer, typed.byteOffset, typed.byteLength).toString('base64');
const results = cases.map((c) => {
  const rgba = new Uint8Array(Buffer.from(c.rgba, 'base64'));
  const r = pre.preprocessRGBA(rgba, c.width, c.height, c.spec, { pillowPassOrder: c.pillowPassOrder });
  return { pixels: b64(r.pixels), tensor: b64(r.data), dims: r.dims };
});
writeFileSync(outFile, JSON.stringify(results));
