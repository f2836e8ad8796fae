// Copies the pinned onnxruntime-web files that `edgeseq web` bundles into the edgeseq-web-assets
// distribution (web/assets/edgeseq_web_assets/dist/), writes VENDOR.json (version + sha256 of every
// file) and webgpu-ops.json (the WebGPU EP operator table parsed from the package's own docs), and sets
// that distribution's version to onnxruntime-web's (edgeseq's `web` extra pins it: update it there too).
//
// Usage (from the repository root):  npm ci --prefix web && npm run vendor --prefix web
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const pkgDir = join(here, 'node_modules', 'onnxruntime-web');
const dist = join(pkgDir, 'dist');
const assets = join(here, 'assets', 'edgeseq_web_assets');
const out = join(assets, 'dist');

// Two builds, chosen by `edgeseq web --backend`:
//   wasm: the CPU (WebAssembly) execution provider only — the smallest page.
//   auto: WebGPU execution provider with WebAssembly fallback (ORT's "asyncify" WebGPU build).
const BUILDS = {
  wasm: ['ort.wasm.min.mjs', 'ort-wasm-simd-threaded.mjs', 'ort-wasm-simd-threaded.wasm'],
  auto: ['ort.webgpu.min.mjs', 'ort-wasm-simd-threaded.asyncify.mjs', 'ort-wasm-simd-threaded.asyncify.wasm'],
};

const version = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')).version;
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const sha256 = (path) => createHash('sha256').update(readFileSync(path)).digest('hex');
const files = {};
for (const name of new Set(Object.values(BUILDS).flat())) {
  copyFileSync(join(dist, name), join(out, name));
  files[name] = sha256(join(out, name));
}
// The npm package ships no LICENSE file; its package.json declares MIT. Keep the notice beside the copies.
writeFileSync(
  join(out, 'NOTICE-onnxruntime-web.txt'),
  `onnxruntime-web ${version} (https://github.com/microsoft/onnxruntime), MIT License,\n` +
    'Copyright (c) Microsoft Corporation. Files copied unmodified from the npm package dist/ folder.\n',
);

// "| Conv | ai.onnx(1-10,11+); com.ms.internal.nhwc(1-10,11+) | comment |" -> {"ai.onnx": {"Conv": [[1,10],[11,null]]}}
const webgpu = {};
for (const line of readFileSync(join(pkgDir, 'docs', 'webgpu-operators.md'), 'utf8').split('\n')) {
  const cells = line.split('|').map((c) => c.trim());
  if (cells.length < 4 || !/^[A-Za-z]/.test(cells[1]) || cells[1] === 'Operator') continue;
  for (const part of cells[2].split(';')) {
    const m = part.trim().match(/^([\w.]+)\(([^)]*)\)$/);
    if (!m) continue;
    // "13+" is open-ended, "7-12" a closed range, a bare "13" exactly that one version
    const ranges = m[2].split(',').map((r) => {
      if (r.endsWith('+')) return [Number(r.slice(0, -1)), null];
      const [lo, hi] = r.split('-');
      return [Number(lo), Number(hi ?? lo)];
    });
    (webgpu[m[1]] ??= {})[cells[1]] = ranges;
  }
}
writeFileSync(join(out, 'webgpu-ops.json'), JSON.stringify(webgpu).replaceAll('],"', '],\n"') + '\n');
writeFileSync(
  join(out, 'VENDOR.json'),
  JSON.stringify({ package: 'onnxruntime-web', version, builds: BUILDS, sha256: files }, null, 2) + '\n',
);
const init = join(assets, '__init__.py');
writeFileSync(init, readFileSync(init, 'utf8').replace(/__version__ = "[^"]*"/, `__version__ = "${version}"`));
console.log(`vendored onnxruntime-web ${version} into ${out}`);
