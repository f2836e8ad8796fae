// The demo page: loads build.json, metadata.json and model.onnx from this folder, runs the model with
// the bundled onnxruntime-web, and shows top-k classes (classification) or the decoded text (ctc).
// Test hooks for headless browsers: `window.edgeseqReady` (a promise of the runtime info) and
// `window.edgeseqPredict(urlOrImageData, {repeat})` (a promise of the result with logits and timings).
// URL options: ?threads=N (WebAssembly threads), ?backend=wasm (skip WebGPU).
import { createSession, loadRuntime, median, predictRGBA } from './model.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const state = { recent: [] };

async function fetchJSON(name) {
  const response = await fetch(name);
  if (!response.ok) throw new Error(`${name}: HTTP ${response.status}`);
  return response.json();
}

function defaultThreads() {
  // WebAssembly threads need SharedArrayBuffer, which needs a cross-origin isolated page
  // (`edgeseq web --serve` sends the COOP/COEP headers); elsewhere onnxruntime-web runs one thread.
  if (!self.crossOriginIsolated) return 1;
  return Math.max(1, Math.min(4, navigator.hardwareConcurrency || 1));
}

/** Decode an image without color management or alpha premultiplication, so pixels equal the file's. */
async function rgbaFromBlob(blob) {
  const bitmap = await createImageBitmap(blob, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
  const canvas = document.createElement('canvas');
  canvas.width = bitmap.width;
  canvas.height = bitmap.height;
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  ctx.drawImage(bitmap, 0, 0);
  const image = ctx.getImageData(0, 0, bitmap.width, bitmap.height);
  bitmap.close();
  return image;
}

function showModelInput(x) {
  const canvas = $('model-input');
  canvas.width = x.width;
  canvas.height = x.height;
  canvas.style.width = `${Math.round((64 * x.width) / x.height)}px`;
  const out = new ImageData(x.width, x.height);
  for (let i = 0; i < x.width * x.height; i++) {
    for (let c = 0; c < 3; c++) out.data[4 * i + c] = x.pixels[i * x.channels + (x.channels === 3 ? c : 0)];
    out.data[4 * i + 3] = 255;
  }
  canvas.getContext('2d').putImageData(out, 0, 0);
}

function showResult(result) {
  $('error').hidden = true;
  if (result.task === 'ctc') {
    $('text-result').hidden = false;
    $('text-result').textContent = result.text || '(no text)';
    $('text-confidence').textContent =
      result.confidence === null ? '' : `lowest character confidence ${result.confidence.toFixed(3)}`;
  } else {
    $('topk').replaceChildren(
      ...result.top_k.map(({ label, score }) => {
        const li = document.createElement('li');
        li.innerHTML = '<span class="label"></span><span class="bar"><span></span></span><span class="score"></span>';
        li.querySelector('.label').textContent = label;
        li.querySelector('.bar span').style.width = `${(100 * score).toFixed(1)}%`;
        li.querySelector('.score').textContent = score.toFixed(4);
        return li;
      }),
    );
  }
  state.recent = [...state.recent, ...result.inference_ms].slice(-50);
  $('latency').textContent =
    `inference ${median(result.inference_ms).toFixed(2)} ms (median of the last ${state.recent.length}: ` +
    `${median(state.recent).toFixed(2)} ms), preprocessing ${result.preprocess_ms.toFixed(2)} ms, ` +
    `${state.info.provider === 'webgpu' ? 'WebGPU' : `WebAssembly, ${state.info.threads} thread(s)`}`;
  showModelInput(result.input);
}

function showError(err) {
  $('error').hidden = false;
  $('error').textContent = String(err && err.message ? err.message : err);
}

async function runOn(image, options = {}) {
  const result = await predictRGBA(
    state.ort, state.session, state.meta, state.build, image.data, image.width, image.height, options,
  );
  showResult(result);
  return result;
}

function showImage(blob) {
  const url = URL.createObjectURL(blob);
  if (state.meta.task === 'classification') {
    const img = new Image();
    img.onload = () => {
      const ctx = $('draw').getContext('2d');
      ctx.imageSmoothingEnabled = false;
      ctx.drawImage(img, 0, 0, $('draw').width, $('draw').height);
      URL.revokeObjectURL(url);
    };
    img.src = url;
  } else {
    $('preview').hidden = false;
    $('preview').src = url;
  }
}

async function predictBlob(blob, options) {
  const image = await rgbaFromBlob(blob);
  showImage(blob);
  if (image.data.some((v, i) => i % 4 === 3 && v !== 255)) {
    console.warn('edgeseq: the image has transparent pixels; the browser may decode them differently from Pillow');
  }
  return runOn(image, options);
}

function setUpDrawing(meta) {
  const canvas = $('draw');
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  // Ink and paper follow the training data: with `invert` the model expects dark ink on light paper.
  const paper = meta.preprocess.invert ? '#ffffff' : '#000000';
  const ink = meta.preprocess.invert ? '#000000' : '#ffffff';
  const clear = () => {
    ctx.fillStyle = paper;
    ctx.fillRect(0, 0, canvas.width, canvas.height);
  };
  clear();
  let drawing = false;
  let pending = false;
  const predictCanvas = async () => {
    if (pending) return;
    pending = true;
    requestAnimationFrame(async () => {
      try {
        await runOn(ctx.getImageData(0, 0, canvas.width, canvas.height));
      } catch (err) {
        showError(err);
      }
      pending = false;
    });
  };
  const point = (event) => {
    const r = canvas.getBoundingClientRect();
    return [((event.clientX - r.left) * canvas.width) / r.width, ((event.clientY - r.top) * canvas.height) / r.height];
  };
  canvas.addEventListener('pointerdown', (event) => {
    drawing = true;
    canvas.setPointerCapture(event.pointerId);
    ctx.strokeStyle = ink;
    ctx.lineWidth = canvas.width / 11;
    ctx.lineCap = 'round';
    ctx.lineJoin = 'round';
    ctx.beginPath();
    ctx.moveTo(...point(event));
  });
  canvas.addEventListener('pointermove', (event) => {
    if (!drawing) return;
    ctx.lineTo(...point(event));
    ctx.stroke();
    predictCanvas();
  });
  const stop = () => {
    if (drawing) predictCanvas();
    drawing = false;
  };
  canvas.addEventListener('pointerup', stop);
  canvas.addEventListener('pointercancel', stop);
  $('clear').addEventListener('click', () => {
    clear();
    $('topk').replaceChildren();
  });
  $('draw-area').hidden = false;
}

function setUpDrop() {
  const drop = $('drop');
  const handle = (file) => file && predictBlob(file).catch(showError);
  $('file').addEventListener('change', (event) => handle(event.target.files[0]));
  drop.addEventListener('dragover', (event) => {
    event.preventDefault();
    drop.classList.add('over');
  });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (event) => {
    event.preventDefault();
    drop.classList.remove('over');
    handle(event.dataTransfer.files[0]);
  });
}

async function main() {
  const [build, meta] = await Promise.all([fetchJSON('build.json'), fetchJSON('metadata.json')]);
  if (params.get('backend') === 'wasm') build.backend = 'wasm';
  const modelResponse = await fetch(build.model_file);
  if (!modelResponse.ok) throw new Error(`${build.model_file}: HTTP ${modelResponse.status}`);
  const modelBytes = new Uint8Array(await modelResponse.arrayBuffer());
  const ort = await loadRuntime(build);
  const threads = Number(params.get('threads')) || defaultThreads();
  const t0 = performance.now();
  const { session, provider } = await createSession(ort, modelBytes, build, threads);
  const info = {
    provider,
    threads: provider === 'wasm' ? threads : null,
    cross_origin_isolated: self.crossOriginIsolated,
    ort_version: build.ort_version,
    task: meta.task,
    session_ms: performance.now() - t0,
    user_agent: navigator.userAgent,
  };
  Object.assign(state, { ort, session, meta, build, info });

  $('title').textContent = build.title;
  $('subtitle').textContent =
    `${meta.task === 'ctc' ? 'text line recognition (CTC)' : `${meta.labels.length} classes`} · ` +
    `input ${meta.preprocess.color === 'RGB' ? 'RGB' : 'grayscale'} ` +
    `${meta.preprocess.resize === 'height' ? `height ${meta.preprocess.height}` : `${meta.preprocess.width}×${meta.preprocess.height}`}` +
    ` · ${build.model_file} (${(modelBytes.length / 1024).toFixed(0)} KiB)`;
  $('footer').textContent =
    `Runs entirely in this browser with onnxruntime-web ${build.ort_version} ` +
    `(${provider === 'webgpu' ? 'WebGPU' : 'WebAssembly'}); nothing is uploaded.`;
  if (meta.task === 'classification') {
    $('input-heading').textContent = 'Draw or drop an image';
    setUpDrawing(meta);
  } else {
    $('input-heading').textContent = 'Drop a text-line image';
  }
  setUpDrop();
  return info;
}

window.edgeseqReady = main();
window.edgeseqReady.catch(showError);

/** Test hook: run the model on an image URL (or ImageData); `repeat` runs the session that many times. */
window.edgeseqPredict = async (source, options = {}) => {
  await window.edgeseqReady;
  if (typeof source === 'string') {
    const response = await fetch(source);
    if (!response.ok) throw new Error(`${source}: HTTP ${response.status}`);
    return predictBlob(await response.blob(), options);
  }
  return runOn(source, options);
};
