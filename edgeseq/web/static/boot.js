// Starts the page, served or opened from disk. A classic script (not a module): browsers load classic
// scripts from file:// but refuse module scripts, imports and fetch() of local files there.
//
// Served (http/https): imports app.js, which fetches build.json, metadata.json, the model and the runtime.
// Opened from disk (file://): page-data.js, written by `edgeseq web` beside this file, holds every one of
// those files base64-encoded. Then the page's modules are imported from blob: URLs (their relative imports
// rewritten to the blob URLs of the modules they name), fetch() of the page's own files is answered from
// page-data.js, and model.js loads onnxruntime-web through `edgeseqEmbedded.importRuntime` (the module from
// a blob: URL, the WebAssembly binary handed over as bytes). A page built without page-data.js says on the
// page how to serve it instead of waiting for a model that cannot load.
(() => {
  const served = location.protocol === 'http:' || location.protocol === 'https:';
  const status = (text) => {
    const node = document.getElementById('subtitle');
    if (node) node.textContent = text;
  };
  const explain = (text) => {
    const node = document.getElementById('error');
    node.hidden = false;
    node.textContent = text;
    status('the model cannot load here');
  };

  if (served) {
    // parser-inserted, so the load event waits for it as it waits for a <script type="module"> in the HTML
    document.write('<script type="module" src="app.js"></script>');
    window.edgeseqBooted = Promise.resolve();
    return;
  }
  const nativeFetch = window.fetch.bind(window);
  const TYPES = { '.json': 'application/json', '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm' };
  const typeOf = (name) => TYPES[name.slice(name.lastIndexOf('.'))] || 'application/octet-stream';
  const decoded = new Map();
  const bytesOf = async (name) => {
    if (!decoded.has(name)) {
      const b64 = window.edgeseqPageFiles[name];
      // a data: URL is the browser's own base64 decoder (fast, even for the 27 MB WebAssembly build)
      decoded.set(name, nativeFetch(`data:application/octet-stream;base64,${b64}`).then((r) => r.arrayBuffer()));
    }
    return decoded.get(name);
  };
  const blobUrls = new Map();
  const blobUrl = async (name, text) => {
    if (!blobUrls.has(name)) {
      const body = text === undefined ? await bytesOf(name) : text;
      blobUrls.set(name, URL.createObjectURL(new Blob([body], { type: typeOf(name) })));
    }
    return blobUrls.get(name);
  };
  // A page module with its `./x.js` imports pointing at the blob: URLs of those modules (made first).
  const moduleUrl = async (name) => {
    if (blobUrls.has(name)) return blobUrls.get(name);
    let text = new TextDecoder().decode(await bytesOf(name));
    const deps = [...text.matchAll(/(?:from|import)\s*\(?\s*(['"])\.\/([\w.-]+\.m?js)\1/g)].map((m) => m[2]);
    for (const dep of new Set(deps)) {
      const url = await moduleUrl(dep);
      text = text.replaceAll(`'./${dep}'`, `'${url}'`).replaceAll(`"./${dep}"`, `"${url}"`);
    }
    return blobUrl(name, text);
  };
  const ownName = (input) => {
    const url = new URL(typeof input === 'string' ? input : input.url, location.href);
    const base = new URL('.', location.href).href;
    const name = url.href.startsWith(base) ? decodeURIComponent(url.href.slice(base.length)) : null;
    return name && window.edgeseqPageFiles && name in window.edgeseqPageFiles ? name : null;
  };

  window.edgeseqEmbedded = {
    /** onnxruntime-web from page-data.js: the module from a blob: URL, the WebAssembly binary as bytes. */
    async importRuntime(build) {
      const [module, glue, wasm] = build.ort_files;
      const ort = await import(await blobUrl(`vendor/${module}`));
      ort.env.wasm.wasmPaths = { mjs: await blobUrl(`vendor/${glue}`) };
      ort.env.wasm.wasmBinary = new Uint8Array(await bytesOf(`vendor/${wasm}`));
      return ort;
    },
  };

  const start = async () => {
    if (!window.edgeseqPageFiles) {
      explain(
        'This page was opened from disk but was built without page-data.js (edgeseq web --no-embed), and ' +
          'browsers do not let a page read files from disk. Serve the folder instead: ' +
          '`edgeseq web MODEL.onnx -o DIR --serve`, or `python3 -m http.server -d DIR`, then open ' +
          'http://127.0.0.1:8000/.',
      );
      return;
    }
    window.fetch = async (input, init) => {
      const name = ownName(input);
      if (name === null) return nativeFetch(input, init);
      return new Response(await bytesOf(name), { headers: { 'Content-Type': typeOf(name) } });
    };
    status('loading the model…');
    await import(await moduleUrl('app.js'));
  };
  // page-data.js is parser-blocking here, so it has run (or failed to load) by DOMContentLoaded
  document.write('<script src="page-data.js"></script>');
  window.edgeseqBooted = new Promise((resolve, reject) => {
    document.addEventListener('DOMContentLoaded', () => start().then(resolve, reject));
  });
  window.edgeseqBooted.catch((err) => explain(`cannot start the page: ${err.message}`));
})();
