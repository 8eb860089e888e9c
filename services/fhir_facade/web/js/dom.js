// Small DOM and formatting helpers shared by the views (no framework).

/**
 * Builds an element: h('button', {type: 'button', onclick: f, dataset: {testid: 'x'}}, 'Text').
 * Attributes starting with "on" become listeners; `dataset`, `style` objects
 * are applied; false/null/undefined attributes and children are skipped.
 * Text children are set as text (never parsed as HTML).
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === false || value === null || value === undefined) continue;
    if (name.startsWith('on') && typeof value === 'function') {
      el.addEventListener(name.slice(2), value);
    } else if (name === 'dataset') {
      for (const [k, v] of Object.entries(value)) el.dataset[k] = v;
    } else if (name === 'style' && typeof value === 'object') {
      Object.assign(el.style, value);
    } else if (name === 'class') {
      el.className = value;
    } else if (name in el && typeof value !== 'string') {
      el[name] = value;
    } else {
      el.setAttribute(name, value === true ? '' : value);
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces an element's content. */
export function mount(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** 0.934 → "93%"; null → "–". */
export function pct(p, digits = 0) {
  if (p === null || p === undefined || Number.isNaN(p)) return '–';
  return `${(p * 100).toFixed(digits)}%`;
}

/** Seconds → "95 s", "10 min", "1 h 30 min". */
export function duration(s) {
  if (s === null || s === undefined || Number.isNaN(s)) return '–';
  if (s < 120) return `${Math.round(s)} s`;
  const m = Math.round(s / 60);
  if (m < 120) return `${m} min`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

/** An ISO time as local short date-time, or "–". */
export function when(iso) {
  if (!iso) return '–';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toLocaleString(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
}

/** Snake/underscore words to plain words: "not_applicable" → "not applicable". */
export function words(s) { return String(s ?? '').replace(/_/g, ' '); }

const SIDES = {
  left: 'left', right: 'right', bilateral: 'bilateral', midline: 'midline',
  not_applicable: 'n/a', '': 'unknown',
};
export function side(laterality) { return SIDES[laterality ?? ''] ?? words(laterality); }

/** Size of a finding: "41.8 mL" / "3.1 cm²" / "–". */
export function size(f) {
  if (f.volume_ml !== null && f.volume_ml !== undefined) return `${Number(f.volume_ml).toFixed(1)} mL`;
  if (f.area_cm2 !== null && f.area_cm2 !== undefined) return `${Number(f.area_cm2).toFixed(1)} cm²`;
  return '–';
}

/** Announces a message to screen readers and shows it in the status bar. */
export function announce(message, kind = 'info') {
  const bar = document.getElementById('status-bar');
  if (!bar) return;
  bar.textContent = message;
  bar.dataset.kind = kind;
}

/** True when a key event comes from a text field (shortcuts must not fire). */
export function typing(event) {
  const t = event.target;
  if (!t || !t.tagName) return false;
  if (t.isContentEditable) return true;
  const tag = t.tagName.toLowerCase();
  if (tag === 'textarea' || tag === 'select') return true;
  if (tag === 'input') {
    const type = (t.type || 'text').toLowerCase();
    return !['button', 'checkbox', 'radio', 'range', 'submit', 'reset'].includes(type);
  }
  return false;
}

/**
 * Runs `render` (which replaces elements inside `container`) and gives focus
 * and the text selection back to the element with the same id, so a live
 * update never throws the user out of the field they are typing in.
 */
export function keepingFocus(container, render) {
  const active = document.activeElement;
  const id = active && active !== document.body && container.contains(active) ? active.id : '';
  let range = null;
  if (id && typeof active.selectionStart === 'number') range = [active.selectionStart, active.selectionEnd];
  render();
  if (!id) return;
  const again = document.getElementById(id);
  if (!again || again === active) return;
  again.focus({ preventScroll: true });
  if (range) { try { again.setSelectionRange(range[0], range[1]); } catch { /* not a text field */ } }
}
