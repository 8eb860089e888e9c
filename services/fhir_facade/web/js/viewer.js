// The canvas image viewer: draws a series' int16 slices (GET
// /api/studies/{key}/series/{s}/slices/{i}) with window/level done here,
// slice scrolling (wheel, slider, PgUp/PgDn), window/level by dragging
// (horizontal = width, vertical = centre; double-click resets) and presets,
// and the selected finding's Grad-CAM heatmap (GET
// /api/findings/{id}/heatmap/{n}, fetched with the bearer header as a blob)
// as an overlay on its evidence slice, toggled and faded.

import { getBinary, getBlob, seg } from './api.js';
import { h, mount } from './dom.js';

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const CACHE_LIMIT = 48;
const HEATMAP_KEY = 'parallax.viewer.heatmap';

/** Presets per modality: [name, (series, stats) => [centre, width]]. */
function presetsFor(modality, series) {
  const fromSeries = () => (series.window_width > 0 ? [series.window_center, series.window_width] : null);
  const percentile = (lo, hi) => (stats) => {
    const a = stats.quantile(lo); const b = stats.quantile(hi);
    return [(a + b) / 2, Math.max(1, b - a)];
  };
  if (modality === 'CT') {
    return [['Brain', () => [40, 80]], ['Subdural', () => [75, 215]], ['Bone', () => [600, 2800]],
      ['Series', (stats) => fromSeries() || percentile(0.01, 0.99)(stats)]];
  }
  if (modality === 'CR' || modality === 'DX') {
    // Films carry stored values, not Hounsfield units: the lung preset is
    // taken from the image's own histogram (the darker lung fields).
    return [['Default', (stats) => fromSeries() || percentile(0.01, 0.99)(stats)],
      ['Lung', percentile(0.02, 0.6)], ['Full', percentile(0, 1)]];
  }
  return [['Default', (stats) => fromSeries() || percentile(0.01, 0.99)(stats)], ['Auto', percentile(0.01, 0.99)]];
}

/** Sorted sample of a slice's values for percentiles. */
function statsOf(pixels) {
  const step = Math.max(1, Math.floor(pixels.length / 20000));
  const sample = [];
  for (let i = 0; i < pixels.length; i += step) sample.push(pixels[i]);
  sample.sort((a, b) => a - b);
  return {
    min: sample[0] ?? 0, max: sample[sample.length - 1] ?? 0,
    quantile: (q) => sample[Math.min(sample.length - 1, Math.max(0, Math.round(q * (sample.length - 1))))] ?? 0,
  };
}

export class Viewer {
  constructor(container) {
    this.container = container;
    this.cache = new Map();
    this.heatmaps = new Map();
    this.heatmapOn = sessionStorage.getItem(HEATMAP_KEY) !== 'off';
    this.opacity = 0.6;
    this.finding = null;
    this.evidence = [];
    this.frame = 0;
    this.destroyed = false;
  }

  /** Shows a study: `study` as from GET /api/studies/{key}. */
  load(study) {
    this.study = study;
    this.seriesIndex = 0;
    this.slice = 0;
    this.build();
    if (!study.series || !study.series.length) {
      this.showError('This study has no series to show.');
      return;
    }
    this.useSeries(0, Math.floor((study.series[0].slices || 1) / 2));
  }

  build() {
    const study = this.study;
    this.canvas = h('canvas', {
      id: 'viewer-canvas', 'data-testid': 'viewer-canvas', tabindex: '0', width: 1, height: 1,
      role: 'img', 'aria-label': 'Image slice. Drag to change window and level, wheel or Page Up/Down to change slice.',
    });
    this.overlay = h('img', { class: 'overlay', id: 'heatmap-overlay', 'data-testid': 'heatmap-overlay', alt: 'Grad-CAM heatmap of the selected finding', hidden: true });
    this.hudLeft = h('span', { class: 'hud', 'data-testid': 'viewer-hud' });
    this.hudRight = h('span', { class: 'hud right' });
    this.stage = h('div', { class: 'stage' }, this.canvas, this.overlay, this.hudLeft, this.hudRight);
    this.errorEl = h('p', { class: 'error', role: 'alert', 'data-testid': 'viewer-error', hidden: true });
    this.slider = h('input', { type: 'range', id: 'slice-slider', 'data-testid': 'slice-slider', min: '0', max: '0', value: '0', step: '1',
      oninput: () => this.goTo(Number(this.slider.value)) });
    this.sliceLabel = h('span', { 'data-testid': 'slice-label', 'aria-live': 'off' });
    this.seriesSelect = (study.series || []).length > 1
      ? h('select', { id: 'series-select', 'data-testid': 'series-select', onchange: () => this.useSeries(Number(this.seriesSelect.value), null) },
        study.series.map((s) => h('option', { value: String(s.index) }, `${s.index}: ${s.description || s.modality}`)))
      : null;
    this.presetBar = h('span', { class: 'presets', role: 'group', 'aria-label': 'Window presets' });
    this.heatToggle = h('button', { type: 'button', id: 'heatmap-toggle', 'data-testid': 'heatmap-toggle', 'aria-pressed': String(this.heatmapOn),
      title: 'Heatmap on/off (h)', onclick: () => this.toggleHeatmap() }, 'Heatmap');
    this.opacityInput = h('input', { type: 'range', id: 'heatmap-opacity', 'data-testid': 'heatmap-opacity', min: '0', max: '100', value: String(Math.round(this.opacity * 100)),
      oninput: () => { this.opacity = Number(this.opacityInput.value) / 100; this.updateOverlay(); } });
    this.priorButton = h('button', { type: 'button', id: 'prior-toggle', 'data-testid': 'prior-toggle', 'aria-pressed': 'false',
      title: 'The prior study beside this one (p)', onclick: () => this.togglePrior(), disabled: true }, 'Prior');
    this.priorCanvas = h('canvas', { 'data-testid': 'prior-canvas', width: 1, height: 1, role: 'img', 'aria-label': 'The matching slice of the prior study' });
    this.priorHud = h('span', { class: 'hud', 'data-testid': 'prior-hud' });
    this.priorStage = h('div', { class: 'stage prior', hidden: true }, this.priorCanvas, this.priorHud);
    this.evidenceButton = h('button', { type: 'button', id: 'jump-evidence', 'data-testid': 'jump-evidence', title: 'Go to the evidence slice (e)',
      onclick: () => this.jumpToEvidence(), disabled: true }, 'Evidence slice');

    mount(this.container,
      h('div', { class: 'viewer' },
        h('div', { class: 'stage-wrap', 'data-testid': 'stage-wrap' }, this.stage, this.priorStage),
        this.errorEl,
        h('div', { class: 'slice-row' },
          h('label', { for: 'slice-slider' }, 'Slice'), this.slider, this.sliceLabel),
        h('div', { class: 'viewer-tools' },
          this.seriesSelect ? [h('label', { for: 'series-select' }, 'Series'), this.seriesSelect] : null,
          this.presetBar),
        h('div', { class: 'viewer-tools' },
          this.heatToggle,
          h('label', { for: 'heatmap-opacity', class: 'grow' }, 'Opacity', this.opacityInput),
          this.evidenceButton,
          this.priorButton)));
    this.bindPointer();
  }

  bindPointer() {
    const c = this.canvas;
    let drag = null;
    c.addEventListener('pointerdown', (e) => {
      if (e.button !== 0) return;
      c.setPointerCapture(e.pointerId);
      drag = { x: e.clientX, y: e.clientY, center: this.center, width: this.width };
    });
    c.addEventListener('pointermove', (e) => {
      if (!drag) return;
      const range = Math.max(64, (this.stats ? this.stats.max - this.stats.min : 4096));
      const k = range / 600;
      this.width = Math.max(1, drag.width + (e.clientX - drag.x) * k);
      this.center = drag.center + (e.clientY - drag.y) * k;
      this.scheduleDraw();
    });
    const end = () => { drag = null; };
    c.addEventListener('pointerup', end);
    c.addEventListener('pointercancel', end);
    c.addEventListener('dblclick', () => this.applyPreset(0));
    let wheel = 0;
    c.addEventListener('wheel', (e) => {
      e.preventDefault();
      wheel += e.deltaY;
      if (Math.abs(wheel) >= 40 || e.deltaMode !== 0) {
        this.goTo(this.slice + Math.sign(wheel));
        wheel = 0;
      }
    }, { passive: false });
    c.addEventListener('keydown', (e) => {
      const moves = { PageUp: -1, PageDown: 1, ArrowUp: -1, ArrowDown: 1, Home: -1e9, End: 1e9 };
      if (e.key in moves) {
        e.preventDefault();
        e.stopPropagation();
        this.goTo(this.slice + moves[e.key]);
      }
    });
  }

  get series() { return this.study.series[this.seriesIndex]; }

  useSeries(index, slice) {
    this.seriesIndex = index;
    const s = this.series;
    const n = Math.max(1, s.slices || 1);
    this.slider.max = String(n - 1);
    this.slider.disabled = n < 2;
    const ps = Array.isArray(s.pixel_spacing) && s.pixel_spacing.length === 2 ? s.pixel_spacing : [1, 1];
    const ar = (s.columns * (ps[1] || 1)) / (s.rows * (ps[0] || 1));
    this.stage.style.setProperty('--ar', Number.isFinite(ar) && ar > 0 ? String(ar) : '1');
    this.priorStage.style.setProperty('--ar', Number.isFinite(ar) && ar > 0 ? String(ar) : '1');
    this.center = null;
    this.width = null;
    this.presets = presetsFor(s.modality || this.study.modality, s);
    mount(this.presetBar, this.presets.map(([name], i) => h('button', {
      type: 'button', 'data-testid': `preset-${name.toLowerCase()}`, onclick: () => this.applyPreset(i),
    }, name)));
    if (this.seriesSelect) this.seriesSelect.value = String(index);
    this.goTo(slice === null || slice === undefined ? Math.floor(n / 2) : slice);
  }

  applyPreset(i) {
    if (!this.stats || !this.presets[i]) return;
    const [c, w] = this.presets[i][1](this.stats);
    this.center = c;
    this.width = w;
    this.scheduleDraw();
  }

  /** Goes to slice `i` of the current series (clamped). */
  goTo(i) {
    const n = Math.max(1, this.series.slices || 1);
    this.slice = Math.max(0, Math.min(n - 1, Math.round(i)));
    this.slider.value = String(this.slice);
    this.sliceLabel.textContent = `${this.slice + 1} / ${n}`;
    const want = `${this.seriesIndex}:${this.slice}`;
    this.fetchSlice(this.seriesIndex, this.slice).then((img) => {
      if (this.destroyed || want !== `${this.seriesIndex}:${this.slice}`) return;
      this.current = img;
      if (!this.stats || this.center === null) {
        this.stats = img.stats;
        this.applyPresetNow(0);
      }
      this.errorEl.hidden = true;
      this.draw();
    }).catch((e) => {
      if (this.destroyed || want !== `${this.seriesIndex}:${this.slice}`) return;
      this.showError(`Cannot load slice ${this.slice + 1}: ${e.describe ? e.describe() : e.message}`);
    });
    // Read ahead one slice each way.
    for (const d of [1, -1]) {
      const j = this.slice + d;
      if (j >= 0 && j < n) this.fetchSlice(this.seriesIndex, j).catch(() => {});
    }
    this.updateOverlay();
  }

  applyPresetNow(i) {
    const [c, w] = this.presets[i][1](this.stats);
    this.center = c;
    this.width = w;
  }

  fetchSlice(s, i) {
    const id = `${s}:${i}`;
    if (this.cache.has(id)) {
      const p = this.cache.get(id);
      this.cache.delete(id);
      this.cache.set(id, p);  // most recently used last
      return p;
    }
    const series = this.study.series[s];
    const p = getBinary(`/api/studies/${seg(this.study.key)}/series/${s}/slices/${i}`).then(({ buffer, headers }) => {
      const rows = Number(headers.get('X-Rows')) || series.rows;
      const cols = Number(headers.get('X-Columns')) || series.columns;
      if (buffer.byteLength !== rows * cols * 2) {
        throw new Error(`the slice has ${buffer.byteLength} bytes, expected ${rows}×${cols}×2`);
      }
      let pixels;
      if (LITTLE_ENDIAN) pixels = new Int16Array(buffer);
      else {
        const view = new DataView(buffer);
        pixels = new Int16Array(rows * cols);
        for (let k = 0; k < pixels.length; k++) pixels[k] = view.getInt16(2 * k, true);
      }
      return { rows, cols, pixels, stats: statsOf(pixels) };
    });
    p.catch(() => this.cache.delete(id));
    this.cache.set(id, p);
    while (this.cache.size > CACHE_LIMIT) this.cache.delete(this.cache.keys().next().value);
    return p;
  }

  scheduleDraw() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => { this.frame = 0; this.draw(); });
  }

  draw() {
    const img = this.current;
    if (!img) return;
    const { rows, cols, pixels } = img;
    if (this.canvas.width !== cols || this.canvas.height !== rows) {
      this.canvas.width = cols;
      this.canvas.height = rows;
    }
    const ctx = this.canvas.getContext('2d', { willReadFrequently: true });
    const out = ctx.createImageData(cols, rows);
    const data = out.data;
    const lo = this.center - this.width / 2;
    const scale = 255 / this.width;
    for (let k = 0, o = 0; k < pixels.length; k++, o += 4) {
      let v = (pixels[k] - lo) * scale;
      v = v < 0 ? 0 : v > 255 ? 255 : v;
      data[o] = v; data[o + 1] = v; data[o + 2] = v; data[o + 3] = 255;
    }
    ctx.putImageData(out, 0, 0);
    this.canvas.dataset.rendered = `${this.seriesIndex}:${this.slice}`;
    this.hudLeft.textContent = `C ${Math.round(this.center)}  W ${Math.round(this.width)}`;
    this.hudRight.textContent = `${this.series.modality || this.study.modality} ${this.slice + 1}/${this.series.slices}`;
    this.drawPrior();
  }

  /** The selected finding's comparison when it names a prior the viewer can show beside this series. */
  priorView() {
    const c = this.finding && this.finding.comparison;
    if (!c || !c.prior_key || c.prior_series < 0 || !Array.isArray(c.slice_map) || !c.slice_map.length) return null;
    const evidenceSeries = (this.finding.evidence || []).length ? this.finding.evidence[0].series : this.seriesIndex;
    return evidenceSeries === this.seriesIndex ? c : null;
  }

  /** Shows or hides the prior beside the current image (p). */
  togglePrior(on) {
    this.priorOn = on === undefined ? !this.priorOn : Boolean(on);
    this.priorButton.setAttribute('aria-pressed', String(Boolean(this.priorOn)));
    this.drawPrior();
  }

  /**
   * Draws the prior slice the registration matches to the current slice
   * (the facade's slice_map), with the current window and level.
   */
  drawPrior() {
    const c = this.priorView();
    this.priorButton.disabled = !c;
    const show = Boolean(c && this.priorOn);
    this.priorStage.hidden = !show;
    this.stage.parentElement?.classList.toggle('side-by-side', show);
    if (!show) return;
    const j = c.slice_map[Math.min(this.slice, c.slice_map.length - 1)];
    const want = `${c.prior_key}:${c.prior_series}:${j}`;
    this.priorWant = want;
    if (!this.priorCache) this.priorCache = new Map();
    if (!this.priorCache.has(want)) {
      const p = getBinary(`/api/studies/${seg(c.prior_key)}/series/${c.prior_series}/slices/${j}`).then(({ buffer, headers }) => {
        const rows = Number(headers.get('X-Rows'));
        const cols = Number(headers.get('X-Columns'));
        if (!rows || !cols || buffer.byteLength !== rows * cols * 2) throw new Error('the prior slice has an unexpected size');
        return { rows, cols, pixels: new Int16Array(buffer.slice(0)) };
      });
      p.catch(() => this.priorCache.delete(want));
      this.priorCache.set(want, p);
      while (this.priorCache.size > CACHE_LIMIT) this.priorCache.delete(this.priorCache.keys().next().value);
    }
    this.priorCache.get(want).then((img) => {
      if (this.destroyed || this.priorWant !== want) return;
      const { rows, cols, pixels } = img;
      if (this.priorCanvas.width !== cols || this.priorCanvas.height !== rows) {
        this.priorCanvas.width = cols;
        this.priorCanvas.height = rows;
      }
      const ctx = this.priorCanvas.getContext('2d');
      const out = ctx.createImageData(cols, rows);
      const lo = this.center - this.width / 2;
      const scale = 255 / this.width;
      for (let k = 0, o = 0; k < pixels.length; k++, o += 4) {
        let v = (pixels[k] - lo) * scale;
        v = v < 0 ? 0 : v > 255 ? 255 : v;
        out.data[o] = v; out.data[o + 1] = v; out.data[o + 2] = v; out.data[o + 3] = 255;
      }
      ctx.putImageData(out, 0, 0);
      this.priorCanvas.dataset.rendered = `${c.prior_series}:${j}`;
      const how = c.registered ? 'registered' : 'by position';
      this.priorHud.textContent = `Prior ${c.prior_date || ''} · ${j + 1} · ${how}`;
    }).catch((e) => {
      if (this.destroyed || this.priorWant !== want) return;
      this.priorHud.textContent = `Prior not available: ${e.describe ? e.describe() : e.message}`;
    });
  }

  showError(message) {
    this.errorEl.textContent = message;
    this.errorEl.hidden = false;
  }

  /** Selects the finding whose evidence heatmaps are overlaid (or null). */
  setFinding(finding, { jump = true } = {}) {
    this.finding = finding;
    this.evidence = finding && Array.isArray(finding.evidence) ? finding.evidence : [];
    this.evidenceButton.disabled = this.evidence.length === 0;
    this.drawPrior();
    if (jump && this.evidence.length) this.jumpToEvidence(0);
    else this.updateOverlay();
  }

  /** Goes to the finding's n-th evidence slice (cycles on repeated calls without n). */
  jumpToEvidence(n) {
    if (!this.evidence.length) return;
    if (n === undefined) {
      const here = this.evidence.findIndex((e) => e.series === this.seriesIndex && e.slice === this.slice);
      n = here >= 0 ? (here + 1) % this.evidence.length : 0;
    }
    const ev = this.evidence[n];
    if (ev.series !== this.seriesIndex) this.useSeries(ev.series, ev.slice);
    else this.goTo(ev.slice);
  }

  toggleHeatmap(on) {
    this.heatmapOn = on === undefined ? !this.heatmapOn : Boolean(on);
    sessionStorage.setItem(HEATMAP_KEY, this.heatmapOn ? 'on' : 'off');
    this.heatToggle.setAttribute('aria-pressed', String(this.heatmapOn));
    this.updateOverlay();
  }

  /** Shows the heatmap of the current slice when there is one and it is on. */
  updateOverlay() {
    if (!this.overlay) return;
    this.overlay.style.opacity = String(this.opacity);
    const n = this.evidence.findIndex((e) => e.series === this.seriesIndex && e.slice === this.slice);
    this.stage.dataset.evidence = n >= 0 ? 'true' : 'false';
    if (!this.heatmapOn || n < 0 || !this.finding) {
      this.overlay.hidden = true;
      this.overlay.dataset.state = this.heatmapOn ? 'none' : 'off';
      return;
    }
    const id = `${this.finding.finding_id}:${n}`;
    if (!this.heatmaps.has(id)) {
      const p = getBlob(`/api/findings/${seg(this.finding.finding_id)}/heatmap/${n}`).then((blob) => URL.createObjectURL(blob));
      p.catch(() => this.heatmaps.delete(id));
      this.heatmaps.set(id, p);
    }
    this.overlay.dataset.state = 'loading';
    this.heatmaps.get(id).then((url) => {
      const still = this.heatmapOn && this.finding && `${this.finding.finding_id}:${this.evidence.findIndex((e) => e.series === this.seriesIndex && e.slice === this.slice)}` === id;
      if (!still || this.destroyed) return;
      if (this.overlay.src !== url) this.overlay.src = url;
      this.overlay.hidden = false;
      this.overlay.dataset.state = 'on';
    }).catch((e) => {
      this.overlay.dataset.state = 'error';
      this.showError(`Cannot load the heatmap: ${e.describe ? e.describe() : e.message}`);
    });
  }

  destroy() {
    this.destroyed = true;
    if (this.frame) cancelAnimationFrame(this.frame);
    for (const p of this.heatmaps.values()) p.then((url) => URL.revokeObjectURL(url)).catch(() => {});
    this.heatmaps.clear();
    this.cache.clear();
  }
}
