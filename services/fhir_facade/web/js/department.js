// The department page (GET /api/department?days=N): summary figures and
// hand-drawn inline SVG charts: agreement per condition, false alerts per
// 1,000 studies per condition, time to acknowledgment (median and p90 per
// condition) and overrides by user and condition. Shown only to users whose
// `me.can.department` is set; a 403 from the server is shown as such.

import { getJson } from './api.js';
import { h, mount, pct, duration } from './dom.js';

const SVG = 'http://www.w3.org/2000/svg';
const COLORS = { a: '#5fb3ff', b: '#ffa94d', c: '#ff5c5c', d: '#8fd19e' };

function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== null && v !== undefined) el.setAttribute(k, String(v));
  for (const c of children) if (c !== null && c !== undefined) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

/**
 * A horizontal bar chart. `rows`: [{label, values: [number…], texts: [string…]}];
 * `series`: [{name, color}] (one bar per series per row); `max`: the axis end.
 */
function barChart({ id, title, rows, series, max, format }) {
  const width = 560;
  const labelW = 170;
  const barH = 16;
  const gap = 4;
  const rowH = series.length * (barH + gap) + 8;
  const top = 8;
  const height = top + Math.max(1, rows.length) * rowH + 22;
  const plotW = width - labelW - 130;
  const axisMax = max > 0 ? max : 1;
  const svg = s('svg', { viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-labelledby': `${id}-title`,
    'data-testid': id, id, 'data-rows': rows.length, preserveAspectRatio: 'xMinYMin meet' },
  s('title', { id: `${id}-title` }, title));
  rows.forEach((row, i) => {
    const y0 = top + i * rowH;
    svg.append(s('text', { x: labelW - 8, y: y0 + (series.length * (barH + gap)) / 2 + 4, 'text-anchor': 'end' },
      row.label.length > 24 ? `${row.label.slice(0, 23)}…` : row.label));
    series.forEach((ser, j) => {
      const v = row.values[j];
      const y = y0 + j * (barH + gap);
      const w = v === null || v === undefined || Number.isNaN(v) ? 0 : Math.max(0, Math.min(1, v / axisMax)) * plotW;
      const bar = s('rect', { x: labelW, y, width: w.toFixed(1), height: barH, rx: 2, fill: ser.color, class: 'chart-bar',
        'data-label': row.label, 'data-series': ser.name, 'data-value': v ?? '' });
      bar.append(s('title', {}, `${row.label} · ${ser.name}: ${row.texts[j]}`));
      svg.append(bar);
      svg.append(s('text', { x: labelW + w + 6, y: y + barH - 3, class: 'muted-text' }, row.texts[j]));
    });
  });
  const axisY = top + Math.max(1, rows.length) * rowH;
  svg.append(s('line', { x1: labelW, x2: labelW + plotW, y1: axisY, y2: axisY, class: 'axis' }));
  svg.append(s('line', { x1: labelW, x2: labelW, y1: top - 4, y2: axisY, class: 'axis' }));
  for (const t of [0, 0.5, 1]) {
    svg.append(s('text', { x: labelW + t * plotW, y: axisY + 15, 'text-anchor': 'middle', class: 'muted-text' }, format(t * axisMax)));
  }
  return svg;
}

function chartBox(title, svg, legend, empty) {
  return h('figure', { class: 'chart' },
    h('figcaption', {}, h('h2', {}, title)),
    legend ? h('div', { class: 'legend' }, legend.map((l) => h('span', {}, h('i', { style: { background: l.color } }), l.name))) : null,
    empty ? h('p', { class: 'empty' }, empty) : svg);
}

export class DepartmentPage {
  constructor(container) {
    this.container = container;
    this.days = 30;
  }

  async load() {
    const select = h('select', { id: 'department-days', 'data-testid': 'department-days', onchange: () => { this.days = Number(select.value); this.load(); } },
      [7, 30, 90, 365].map((d) => h('option', { value: String(d), selected: d === this.days }, `last ${d} days`)));
    const body = h('div', { 'aria-busy': 'true' }, h('p', { class: 'muted' }, 'Loading…'));
    mount(this.container, h('h1', {}, 'Department'),
      h('div', { class: 'filters' }, h('div', {}, h('label', { for: 'department-days' }, 'Window'), select)), body);
    try {
      const data = await getJson(`/api/department?days=${this.days}`);
      mount(body, this.render(data));
      body.removeAttribute('aria-busy');
    } catch (e) {
      body.removeAttribute('aria-busy');
      mount(body, h('p', { class: 'error', role: 'alert', 'data-testid': 'department-error' }, e.describe ? e.describe() : String(e)));
    }
  }

  render(d) {
    const conditions = d.conditions || [];
    const overrides = d.overrides || [];
    const tta = d.time_to_acknowledgment || {};
    const tiles = h('div', { class: 'tiles', 'data-testid': 'department-tiles' },
      [['Studies analysed', d.studies_analysed ?? 0], ['Alerts sent', d.alerts_sent ?? 0], ['False alerts', d.false_alerts ?? 0],
        ['False alerts / 1,000 studies', (d.false_alerts_per_1000_studies ?? 0).toFixed(1)],
        ['Median time to ack.', duration(tta.median_s)], ['p90 time to ack.', duration(tta.p90_s)]]
        .map(([k, v]) => h('div', { class: 'tile' }, h('div', { class: 'v' }, v), h('div', { class: 'k' }, k))));

    const reviewed = conditions.filter((c) => (c.reviewed ?? 0) > 0);
    const agreement = barChart({
      id: 'chart-agreement', title: 'Agreement with the AI per condition',
      rows: reviewed.map((c) => ({ label: c.label, values: [c.agreement], texts: [`${pct(c.agreement)} of ${c.reviewed}`] })),
      series: [{ name: 'agreement', color: COLORS.a }], max: 1, format: (v) => pct(v),
    });
    const alerted = conditions.filter((c) => (c.alerts_sent ?? 0) > 0 || (c.false_alerts ?? 0) > 0);
    const faMax = Math.max(1, ...alerted.map((c) => c.false_alerts_per_1000_studies || 0));
    const falseAlerts = barChart({
      id: 'chart-false-alerts', title: 'False alerts per 1,000 studies per condition',
      rows: alerted.map((c) => ({ label: c.label, values: [c.false_alerts_per_1000_studies ?? 0],
        texts: [`${(c.false_alerts_per_1000_studies ?? 0).toFixed(1)} (${c.false_alerts ?? 0} of ${c.alerts_sent ?? 0})`] })),
      series: [{ name: 'false alerts / 1,000', color: COLORS.c }], max: faMax, format: (v) => v.toFixed(0),
    });
    const acked = conditions.filter((c) => c.time_to_acknowledgment && c.time_to_acknowledgment.count > 0);
    const tMax = Math.max(60, ...acked.map((c) => c.time_to_acknowledgment.p90_s || 0));
    const timeSeries = [{ name: 'median', color: COLORS.a }, { name: 'p90', color: COLORS.b }];
    const ack = barChart({
      id: 'chart-ack', title: 'Time to acknowledgment per condition (median and p90)',
      rows: acked.map((c) => ({ label: c.label, values: [c.time_to_acknowledgment.median_s, c.time_to_acknowledgment.p90_s],
        texts: [duration(c.time_to_acknowledgment.median_s), `${duration(c.time_to_acknowledgment.p90_s)} (n=${c.time_to_acknowledgment.count})`] })),
      series: timeSeries, max: tMax, format: (v) => duration(v),
    });
    const ov = overrides.filter((o) => (o.reviews ?? 0) > 0);
    const overridesChart = barChart({
      id: 'chart-overrides', title: 'Overrides by user and condition',
      rows: ov.map((o) => ({ label: `${o.user} · ${o.label}`, values: [o.override_rate], texts: [`${pct(o.override_rate)} (${o.overrides}/${o.reviews})`] })),
      series: [{ name: 'override rate', color: COLORS.b }], max: 1, format: (v) => pct(v),
    });
    const table = h('table', { 'data-testid': 'overrides-table' },
      h('caption', { class: 'muted' }, 'Overrides: reviews where the radiologist rejected or modified the AI finding'),
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'User'), h('th', { scope: 'col' }, 'Condition'),
        h('th', { scope: 'col', class: 'num' }, 'Reviews'), h('th', { scope: 'col', class: 'num' }, 'Overrides'), h('th', { scope: 'col', class: 'num' }, 'Rate'))),
      h('tbody', {}, overrides.map((o) => h('tr', {}, h('td', {}, o.user), h('td', {}, o.label),
        h('td', { class: 'num' }, o.reviews), h('td', { class: 'num' }, o.overrides), h('td', { class: 'num' }, pct(o.override_rate))))));
    return [
      h('p', { class: 'muted' }, `Last ${d.window_days ?? this.days} days.`),
      tiles,
      h('div', { class: 'charts' },
        chartBox('Agreement per condition', agreement, null, reviewed.length ? null : 'No reviewed findings in this window.'),
        chartBox('False alerts per 1,000 studies', falseAlerts, null, alerted.length ? null : 'No alerts in this window.'),
        chartBox('Time to acknowledgment', ack, timeSeries, acked.length ? null : 'No acknowledged alerts in this window.'),
        chartBox('Overrides', overridesChart, null, ov.length ? null : 'No overrides in this window.')),
      overrides.length ? h('div', { class: 'chart', style: { marginTop: '.8rem' } }, table) : null,
    ];
  }
}
