// Image preprocessing from an edgeseq preprocessing spec, re-implemented in JavaScript.
//
// It mirrors edgeseq/runtime/preprocess.py step by step, and Pillow's own integer arithmetic where
// Pillow does the work, so the browser feeds the model the same tensor, bit for bit, as the Python
// runtime for opaque images:
//   color conversion  Pillow's ImagingConvert  (RGB -> L: ITU-R 601-2 luma in 16-bit fixed point)
//   alpha             Pillow's alpha_composite over white (RGBA -> RGB), alpha ignored for RGB(A) -> L
//   resize            Pillow's ImagingResample (separable filters, 22-bit fixed-point coefficients,
//                     horizontal pass then vertical pass, each rounded to uint8) and, for "nearest",
//                     Pillow's ImagingScaleAffine
//   normalise         numpy float32 arithmetic (every step rounded to float32 with Math.fround)
// Pure functions only (no DOM), so Node can import this file to test it against Pillow.

const PRECISION_BITS = 32 - 8 - 2; // Pillow Resample.c
const ONE = 1 << PRECISION_BITS;

function sinc(x) {
  if (x === 0) return 1;
  const px = x * Math.PI;
  return Math.sin(px) / px;
}

// Pillow's filters: [support, kernel]
export const FILTERS = {
  box: [0.5, (x) => (x > -0.5 && x <= 0.5 ? 1.0 : 0.0)],
  bilinear: [1.0, (x) => {
    x = Math.abs(x);
    return x < 1.0 ? 1.0 - x : 0.0;
  }],
  hamming: [1.0, (x) => {
    x = Math.abs(x);
    if (x === 0) return 1.0;
    if (x >= 1.0) return 0.0;
    const px = x * Math.PI;
    // Pillow writes these two constants as C floats (0.54f, 0.46f)
    return (Math.sin(px) / px) * (Math.fround(0.54) + Math.fround(0.46) * Math.cos(px));
  }],
  bicubic: [2.0, (x) => {
    const a = -0.5;
    x = Math.abs(x);
    if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
    if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
    return 0.0;
  }],
  lanczos: [3.0, (x) => (x >= -3.0 && x < 3.0 ? sinc(x) * sinc(x / 3.0) : 0.0)],
};

/** Python's round(): half to even (Math.round rounds half up). */
export function roundHalfEven(x) {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** The [width, height] an image of width x height is resized to (preprocess.target_size). */
export function targetSize(width, height, spec) {
  if ((spec.resize ?? 'stretch') === 'height') {
    const scaled = roundHalfEven((width * spec.height) / Math.max(height, 1));
    const lo = spec.min_width ?? 1;
    const hi = spec.max_width ?? scaled;
    return [Math.trunc(Math.min(Math.max(scaled, lo), hi)), spec.height];
  }
  return [spec.width, spec.height];
}

/**
 * Browser RGBA pixels -> the spec's color mode, as Pillow converts: returns {data, channels}.
 * "L": L = (R*19595 + G*38470 + B*7471 + 0x8000) >> 16, alpha ignored (Pillow's RGBA -> L).
 * "RGB": translucent pixels composited over opaque white with Pillow's alpha_composite arithmetic.
 */
export function convertColor(rgba, width, height, color) {
  const n = width * height;
  if (color === 'L') {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      const j = 4 * i;
      out[i] = (rgba[j] * 19595 + rgba[j + 1] * 38470 + rgba[j + 2] * 7471 + 0x8000) >>> 16;
    }
    return { data: out, channels: 1 };
  }
  if (color !== 'RGB') throw new Error(`preprocess.color: got ${JSON.stringify(color)}; expected "L" or "RGB"`);
  const out = new Uint8Array(3 * n);
  const shiftDiv255 = (a) => (((a >>> 8) + a) >>> 8);
  for (let i = 0; i < n; i++) {
    const j = 4 * i;
    const a = rgba[j + 3];
    for (let c = 0; c < 3; c++) {
      let v = rgba[j + c];
      if (a === 0) v = 255;
      else if (a !== 255) {
        // Pillow AlphaComposite.c with dst = opaque white, PRECISION_BITS = 7
        const outa255 = a * 255 + 255 * (255 - a);
        const coef1 = Math.floor((a * 255 * 255 * 128) / outa255);
        const coef2 = 255 * 128 - coef1;
        const tmp = v * coef1 + 255 * coef2;
        v = shiftDiv255(tmp + (0x80 << 7)) >>> 7;
      }
      out[3 * i + c] = v;
    }
  }
  return { data: out, channels: 3 };
}

// Pillow precompute_coeffs + normalize_coeffs_8bpc: per output pixel, [xmin, count] and int coefficients.
function coefficients(inSize, outSize, filterName) {
  const entry = FILTERS[filterName];
  if (!entry) throw new Error(`preprocess.interpolation: got ${JSON.stringify(filterName)}; expected one of nearest, ${Object.keys(FILTERS).join(', ')}`);
  const [filterSupport, kernel] = entry;
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1.0);
  const support = filterSupport * filterScale;
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const kk = new Int32Array(outSize * ksize);
  const w = new Float64Array(ksize);
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const ss = 1.0 / filterScale;
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const xmax = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
    let ww = 0.0;
    for (let x = 0; x < xmax; x++) {
      w[x] = kernel((x + xmin - center + 0.5) * ss);
      ww += w[x];
    }
    for (let x = 0; x < xmax; x++) {
      const k = ww !== 0.0 ? w[x] / ww : w[x];
      // C's (int) truncates toward zero
      kk[xx * ksize + x] = k < 0 ? Math.trunc(-0.5 + k * ONE) : Math.trunc(0.5 + k * ONE);
    }
    bounds[2 * xx] = xmin;
    bounds[2 * xx + 1] = xmax;
  }
  return { bounds, kk, ksize };
}

function clip8(v) {
  if (v >= ONE * 256) return 255;
  if (v <= 0) return 0;
  return Math.floor(v / ONE);
}

/** Pillow's nearest-neighbour resize (ImagingScaleAffine; cumulative double steps as in C). */
function resizeNearest(src, width, height, channels, outW, outH) {
  const out = new Uint8Array(outW * outH * channels);
  const coord = (v) => (v < 0.0 ? -1 : Math.trunc(v));
  const ax = width / outW;
  const ay = height / outH;
  const xin = new Int32Array(outW);
  let xo = ax * 0.5;
  for (let x = 0; x < outW; x++) {
    xin[x] = Math.min(Math.max(coord(xo), 0), width - 1);
    xo += ax;
  }
  let yo = ay * 0.5;
  for (let y = 0; y < outH; y++) {
    const yi = Math.min(Math.max(coord(yo), 0), height - 1);
    for (let x = 0; x < outW; x++) {
      for (let c = 0; c < channels; c++) out[(y * outW + x) * channels + c] = src[(yi * width + xin[x]) * channels + c];
    }
    yo += ay;
  }
  return out;
}

function horizontalPass(src, rows, width, channels, outW, firstRow, filterName) {
  const hz = coefficients(width, outW, filterName);
  const out = new Uint8Array(rows * outW * channels);
  for (let y = 0; y < rows; y++) {
    const rowBase = (y + firstRow) * width * channels;
    for (let xx = 0; xx < outW; xx++) {
      const xmin = hz.bounds[2 * xx];
      const xmax = hz.bounds[2 * xx + 1];
      const kOff = xx * hz.ksize;
      for (let c = 0; c < channels; c++) {
        let ss = 1 << (PRECISION_BITS - 1);
        for (let x = 0; x < xmax; x++) ss += src[rowBase + (x + xmin) * channels + c] * hz.kk[kOff + x];
        out[(y * outW + xx) * channels + c] = clip8(ss);
      }
    }
  }
  return out;
}

function verticalPass(src, cols, channels, outH, vert) {
  const out = new Uint8Array(outH * cols * channels);
  for (let yy = 0; yy < outH; yy++) {
    const ymin = vert.bounds[2 * yy];
    const ymax = vert.bounds[2 * yy + 1];
    const kOff = yy * vert.ksize;
    for (let xx = 0; xx < cols; xx++) {
      for (let c = 0; c < channels; c++) {
        let ss = 1 << (PRECISION_BITS - 1);
        for (let y = 0; y < ymax; y++) ss += src[((y + ymin) * cols + xx) * channels + c] * vert.kk[kOff + y];
        out[(yy * cols + xx) * channels + c] = clip8(ss);
      }
    }
  }
  return out;
}

/**
 * Resize interleaved uint8 pixels (HxW or HxWxC) exactly like Pillow's Image.resize(size, filter).
 * @param {boolean} pillowPassOrder  Pillow >= 12 runs the vertical pass first when the height shrinks by more
 *   than twice as many pixels as the width; older Pillow always runs the horizontal pass first. The page
 *   gets the rule of the Pillow that `edgeseq web` ran with (build.json), so it matches that Python runtime.
 * @returns {Uint8Array} outH x outW x channels
 */
export function resize(src, width, height, channels, outW, outH, filterName = 'bilinear', pillowPassOrder = true) {
  if (outW === width && outH === height) return src;
  if (filterName === 'nearest') return resizeNearest(src, width, height, channels, outW, outH);
  const needH = outW !== width;
  const needV = outH !== height;
  const horizontalFirst = !(pillowPassOrder && height - outH > 0 && height - outH > (width - outW) * 2);
  const vert = coefficients(height, outH, filterName);
  if (!horizontalFirst) {
    const tall = needV ? verticalPass(src, width, channels, outH, vert) : src;
    return needH ? horizontalPass(tall, outH, width, channels, outW, 0, filterName) : tall;
  }
  let img = src;
  let cols = width;
  if (needH) {
    // Only the source rows the vertical pass reads are resampled horizontally (as Pillow does).
    const first = vert.bounds[0];
    const last = vert.bounds[2 * outH - 2] + vert.bounds[2 * outH - 1];
    for (let i = 0; i < outH; i++) vert.bounds[2 * i] -= first;
    img = horizontalPass(src, last - first, width, channels, outW, first, filterName);
    cols = outW;
  }
  return needV ? verticalPass(img, cols, channels, outH, vert) : img;
}

/** uint8 HxWxC pixels -> float32 CHW, (p / 255 [inverted] - mean) / std in float32 like numpy. */
export function normalize(pixels, width, height, channels, spec) {
  const f = Math.fround;
  const pick = (values, fallback, c) => f((values && values.length ? values : [fallback])[values && values.length === channels ? c : 0]);
  const out = new Float32Array(channels * width * height);
  const plane = width * height;
  const c255 = f(255.0);
  for (let c = 0; c < channels; c++) {
    const mean = pick(spec.mean, 0.0, c);
    const std = pick(spec.std, 1.0, c);
    for (let i = 0; i < plane; i++) {
      let x = f(pixels[i * channels + c] / c255);
      if (spec.invert) x = f(1.0 - x);
      out[c * plane + i] = f(f(x - mean) / std);
    }
  }
  return out;
}

/**
 * Browser RGBA -> the model's input tensor for one image.
 * Options: inGraph (the model takes uint8 NHWC pixels), pillowPassOrder (see resize).
 * @returns {{data: Float32Array|Uint8Array, dims: number[], pixels: Uint8Array, width: number, height: number, channels: number}}
 *   dims are [1, C, H, W] (float32 NCHW), or [1, H, W, C] uint8 when preprocessing is in the graph.
 */
export function preprocessRGBA(rgba, width, height, spec, { inGraph = false, pillowPassOrder = true } = {}) {
  const { data, channels } = convertColor(rgba, width, height, spec.color ?? 'L');
  const [outW, outH] = targetSize(width, height, spec);
  const pixels = resize(data, width, height, channels, outW, outH, spec.interpolation ?? 'bilinear', pillowPassOrder);
  if (inGraph) return { data: pixels, dims: [1, outH, outW, channels], pixels, width: outW, height: outH, channels };
  return {
    data: normalize(pixels, outW, outH, channels, spec),
    dims: [1, channels, outH, outW],
    pixels,
    width: outW,
    height: outH,
    channels,
  };
}
