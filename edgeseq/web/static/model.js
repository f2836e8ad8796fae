// Running an edgeseq model with onnxruntime-web, and decoding its output like edgeseq.runtime.Predictor:
// classification -> softmax + stable top-k; ctc -> greedy best path (argmax per frame, collapse repeats,
// drop blanks). No DOM here.
import { preprocessRGBA } from './preprocess.js';

/**
 * The onnxruntime-web module `edgeseq web` bundled (build.json names it; loaded from ./vendor, never a CDN).
 * Opened from disk, boot.js provides it from page-data.js (`edgeseqEmbedded`), since file:// allows no import.
 */
export async function loadRuntime(build) {
  if (globalThis.edgeseqEmbedded) return globalThis.edgeseqEmbedded.importRuntime(build);
  return import(`./vendor/${build.ort_module}`);
}

async function webgpuAvailable() {
  if (!('gpu' in navigator)) return false;
  try {
    return (await navigator.gpu.requestAdapter()) !== null;
  } catch {
    return false;
  }
}

/**
 * Create the inference session: WebGPU where the page was built with it and the browser has an adapter,
 * else WebAssembly. Returns {session, provider}.
 */
export async function createSession(ort, modelBytes, build, threads) {
  ort.env.wasm.numThreads = threads;
  ort.env.logLevel = 'error';
  if (build.backend === 'auto' && (await webgpuAvailable())) {
    try {
      const session = await ort.InferenceSession.create(modelBytes, { executionProviders: ['webgpu', 'wasm'] });
      return { session, provider: 'webgpu' };
    } catch (err) {
      console.warn(`edgeseq: WebGPU session failed (${err.message}); using WebAssembly`);
    }
  }
  const session = await ort.InferenceSession.create(modelBytes, { executionProviders: ['wasm'] });
  return { session, provider: 'wasm' };
}

/** Softmax in float64 and a stable descending sort (equal scores keep class order), like the Python runtime. */
export function classify(logits, labels, topK) {
  let max = -Infinity;
  for (const v of logits) max = Math.max(max, v);
  const exps = Array.from(logits, (v) => Math.exp(v - max));
  const sum = exps.reduce((a, b) => a + b, 0);
  const probs = exps.map((e) => e / sum);
  const order = probs.map((_, i) => i).sort((a, b) => probs[b] - probs[a] || a - b);
  const top = order.slice(0, Math.min(topK, probs.length));
  const name = (i) => (i < labels.length ? labels[i] : String(i));
  return {
    label: name(top[0]),
    index: top[0],
    score: probs[top[0]],
    top_k: top.map((i) => ({ label: name(i), score: probs[i] })),
  };
}

/** Greedy CTC decoding of a (T, C) row-major array; class `blank` is the blank, the others map to alphabet. */
export function ctcGreedy(logits, T, C, alphabet, blank) {
  const chars = Array.from(alphabet);
  chars.splice(blank, 0, '');
  let text = '';
  const confidences = [];
  let previous = -1;
  for (let t = 0; t < T; t++) {
    let best = 0;
    let max = -Infinity;
    for (let c = 0; c < C; c++) {
      const v = logits[t * C + c];
      if (v > max) {
        max = v;
        best = c;
      }
    }
    let sum = 0;
    for (let c = 0; c < C; c++) sum += Math.exp(logits[t * C + c] - max);
    const prob = 1 / sum;
    if (best === previous) {
      if (best !== blank) confidences[confidences.length - 1] = Math.max(confidences[confidences.length - 1], prob);
      continue;
    }
    previous = best;
    if (best !== blank) {
      text += chars[best];
      confidences.push(prob);
    }
  }
  return { text, confidence: confidences.length ? Math.min(...confidences) : null, char_confidences: confidences };
}

/**
 * Preprocess RGBA pixels, run the session, decode. Timings in milliseconds: `preprocess_ms`, and
 * `inference_ms` (one per repeat; session.run only, so it compares with a native session.run).
 */
export async function predictRGBA(ort, session, meta, build, rgba, width, height, { repeat = 1 } = {}) {
  const t0 = performance.now();
  const inGraph = Boolean(meta.preprocess.in_graph);
  const x = preprocessRGBA(rgba, width, height, meta.preprocess, {
    inGraph,
    pillowPassOrder: build.pillow_vertical_pass_first,
  });
  const preprocessMs = performance.now() - t0;
  const tensor = new ort.Tensor(inGraph ? 'uint8' : 'float32', x.data, x.dims);
  const feeds = { [meta.input.name]: tensor };
  const inference = [];
  let output;
  for (let i = 0; i < Math.max(1, repeat); i++) {
    const start = performance.now();
    const results = await session.run(feeds, [meta.outputs.logits]);
    inference.push(performance.now() - start);
    output = results[meta.outputs.logits];
  }
  const logits = output.data;
  const decoded =
    meta.task === 'ctc'
      ? ctcGreedy(logits, output.dims[1], output.dims[2], meta.alphabet, meta.blank_index)
      : classify(logits, meta.labels, build.top_k);
  return {
    task: meta.task,
    ...decoded,
    logits: Array.from(logits),
    logits_dims: Array.from(output.dims),
    input: x,
    preprocess_ms: preprocessMs,
    inference_ms: inference,
  };
}

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}
