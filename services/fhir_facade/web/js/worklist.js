// The worklist: studies by urgency with their AI status, filters (modality,
// status, group; "my groups" by default), keyboard selection (j/k, arrows)
// and opening (Enter or click). Filters live in sessionStorage, not the URL.

import { getJson, me as currentMe } from './api.js';
import { h, mount, pct, words, when, announce, keepingFocus } from './dom.js';

const FILTER_KEY = 'parallax.worklist.filters';
const MODALITIES = ['CR', 'DX', 'CT', 'MR'];
const STATES = ['queued', 'running', 'analysed', 'not_applicable', 'failed'];
// The alert groups of the department's policy (config/alert_policy.yaml).
const KNOWN_GROUPS = ['thoracic-radiology', 'neuroradiology', 'neurosurgery', 'msk-radiology',
  'senior-radiology', 'department-head'];

export class Worklist {
  /** `onOpen(key)` is called to open a study. */
  constructor(container, { onOpen }) {
    this.container = container;
    this.onOpen = onOpen;
    this.studies = [];
    this.selected = 0;
    this.openKey = null;
    this.loading = null;
    this.generation = 0;
    this.filters = this.readFilters();
    this.build();
  }

  readFilters() {
    const m = currentMe();
    const mine = m && Array.isArray(m.groups) && m.groups.some((g) => KNOWN_GROUPS.includes(g));
    const fallback = { modality: '', status: '', group: mine ? 'mine' : '' };
    try {
      const kept = JSON.parse(sessionStorage.getItem(FILTER_KEY) || 'null');
      return kept && typeof kept === 'object' ? { ...fallback, ...kept } : fallback;
    } catch { return fallback; }
  }

  build() {
    const m = currentMe() || { groups: [] };
    const groups = [...new Set([...(m.groups || []), ...KNOWN_GROUPS])];
    const select = (id, label, options, value) => h('div', {},
      h('label', { for: id }, label),
      h('select', { id, 'data-testid': id, onchange: () => this.filterChanged() },
        options.map(([v, text]) => h('option', { value: v, selected: v === value }, text))));
    const filters = h('form', { class: 'filters', 'aria-label': 'Worklist filters', onsubmit: (e) => e.preventDefault() },
      select('filter-modality', 'Modality', [['', 'All'], ...MODALITIES.map((x) => [x, x])], this.filters.modality),
      select('filter-status', 'Status', [['', 'All'], ...STATES.map((x) => [x, words(x)])], this.filters.status),
      select('filter-group', 'Alert group', [['mine', 'My groups'], ['', 'All groups'], ...groups.map((g) => [g, g])], this.filters.group),
      h('button', { type: 'button', class: 'ghost icon', 'aria-label': 'Reload the worklist', title: 'Reload', 'data-testid': 'worklist-reload', onclick: () => this.load() }, '⟳'));
    this.count = h('p', { class: 'muted', id: 'worklist-count', 'data-testid': 'worklist-count', 'aria-live': 'polite' }, 'Loading…');
    this.list = h('ol', { class: 'worklist', id: 'worklist', 'data-testid': 'worklist', 'aria-label': 'Studies by urgency' });
    this.error = h('p', { class: 'error', role: 'alert', 'data-testid': 'worklist-error', hidden: true });
    mount(this.container, h('h1', {}, 'Worklist'), filters, this.error, this.count, this.list);
  }

  filterChanged() {
    this.filters = {
      modality: this.container.querySelector('#filter-modality').value,
      status: this.container.querySelector('#filter-status').value,
      group: this.container.querySelector('#filter-group').value,
    };
    sessionStorage.setItem(FILTER_KEY, JSON.stringify(this.filters));
    this.selected = 0;
    this.studies = [];  // a new filter starts at the top
    this.lastJson = null;
    this.load();
  }

  query(group) {
    const q = new URLSearchParams();
    if (this.filters.modality) q.set('modality', this.filters.modality);
    if (this.filters.status) q.set('status', this.filters.status);
    if (group) q.set('group', group);
    const s = q.toString();
    return `/api/worklist${s ? `?${s}` : ''}`;
  }

  /** Loads (or reloads) the worklist; keeps the selection on the same study. */
  async load() {
    const generation = ++this.generation;
    const keepKey = this.studies[this.selected]?.key;
    this.list.setAttribute('aria-busy', 'true');
    try {
      let studies;
      if (this.filters.group === 'mine') {
        const m = currentMe() || { groups: [] };
        const groups = (m.groups || []).filter((g) => KNOWN_GROUPS.includes(g));
        const answers = await Promise.all(groups.map((g) => getJson(this.query(g))));
        const seen = new Map();
        answers.forEach((a) => (a.studies || []).forEach((s) => { if (!seen.has(s.key)) seen.set(s.key, s); }));
        // Array.prototype.sort is stable: equal urgency keeps the server's order.
        studies = [...seen.values()].sort((a, b) => (b.urgency ?? 0) - (a.urgency ?? 0));
      } else {
        studies = (await getJson(this.query(this.filters.group))).studies || [];
      }
      if (generation !== this.generation) return;
      const json = JSON.stringify(studies);
      this.error.hidden = true;
      if (json === this.lastJson) return;  // nothing changed: leave the DOM (and focus) alone
      this.lastJson = json;
      this.studies = studies;
      const idx = keepKey ? studies.findIndex((s) => s.key === keepKey) : -1;
      this.selected = idx >= 0 ? idx : Math.min(this.selected, Math.max(0, studies.length - 1));
      this.error.hidden = true;
      this.render();
    } catch (e) {
      if (generation !== this.generation) return;
      this.error.textContent = e.describe ? e.describe() : String(e);
      this.error.hidden = false;
      announce(this.error.textContent, 'error');
    } finally {
      if (generation === this.generation) this.list.removeAttribute('aria-busy');
    }
  }

  render() {
    const n = this.studies.length;
    this.count.textContent = n === 0
      ? (this.filters.group === 'mine' ? 'No studies alerting your groups. Choose “All groups” to see every study.' : 'No studies match.')
      : `${n} ${n === 1 ? 'study' : 'studies'}, most urgent first`;
    keepingFocus(this.list, () => mount(this.list, this.studies.map((s, i) => h('li', {}, this.row(s, i)))));
  }

  row(s, i) {
    const alert = s.alert;
    const labels = s.positive_labels || [];
    const flags = s.quality_flags || [];
    const report = s.report_status || 'none';
    const current = i === this.selected;
    return h('button', {
      type: 'button', class: 'row', id: `study-row-${s.key}`, 'data-testid': 'worklist-row', 'data-key': s.key,
      'data-report-status': report, 'data-state': s.state || '',
      'data-priority': alert ? alert.priority : '', 'aria-current': current ? 'true' : 'false',
      'aria-label': `${s.description || s.modality}: urgency ${s.urgency ?? 'unknown'}, ${labels.length ? labels.join(', ') : words(s.decision || s.state)}, report ${report}`,
      tabindex: current ? '0' : '-1',
      onclick: () => { this.select(i, false); this.onOpen(s.key); },
      onfocus: () => this.select(i, false),
    },
    h('span', { class: 'urgency', title: 'Urgency' }, s.urgency ?? '–'),
    h('span', { class: 'title' }, `${s.description || '(no description)'}`),
    h('span', { class: 'meta' },
      h('span', {}, [s.modality, s.body_part].filter(Boolean).join(' · ')),
      s.patient_setting ? h('span', {}, words(s.patient_setting)) : null,
      h('span', { class: 'chip', 'data-testid': 'row-state' }, words(s.state || 'unknown')),
      h('span', { class: `chip status-${report}`, 'data-testid': 'row-report-status', title: 'Report status' }, `report: ${words(report)}`),
      s.analysed_at ? h('span', {}, when(s.analysed_at)) : null),
    h('span', { class: 'ai' },
      labels.length
        ? [labels.map((l) => h('span', { class: 'chip positive', 'data-testid': 'row-label' }, l)),
          s.top_probability !== null && s.top_probability !== undefined
            ? h('span', { title: 'Top confidence', 'data-testid': 'row-confidence' }, pct(s.top_probability)) : null]
        : (s.decision ? h('span', { class: `chip ${s.decision === 'negative' ? 'negative' : ''}` }, words(s.decision)) : null),
      flags.map((f) => h('span', { class: 'chip flag', title: 'Image-quality flag' }, `⚠ ${words(f)}`)),
      alert ? h('span', { class: `chip ${alert.priority}`, 'data-testid': 'row-alert', title: `Alert to ${(alert.groups || []).join(', ')}` },
        `${alert.critical ? '‼ ' : ''}${alert.priority} alert · ${words(alert.state)}`) : null));
  }

  /** Marks row i as selected; focuses it when `focus`. */
  select(i, focus = true) {
    if (!this.studies.length) return;
    this.selected = Math.max(0, Math.min(i, this.studies.length - 1));
    const rows = this.list.querySelectorAll('.row');
    rows.forEach((r, j) => {
      r.setAttribute('aria-current', j === this.selected ? 'true' : 'false');
      r.tabIndex = j === this.selected ? 0 : -1;
    });
    const row = rows[this.selected];
    if (row && focus) { row.focus({ preventScroll: true }); row.scrollIntoView({ block: 'nearest' }); }
  }

  move(delta) { this.select(this.selected + delta); }

  openSelected() {
    const s = this.studies[this.selected];
    if (s) this.onOpen(s.key);
  }

  /** Marks the open study in the list (for the side-by-side layout). */
  setOpenKey(key) {
    this.openKey = key;
    const i = this.studies.findIndex((s) => s.key === key);
    if (i >= 0) this.select(i, false);
  }

  /** The key of the study after `key` in the list (or the first), or null. */
  nextKey(key) {
    if (!this.studies.length) return null;
    const i = this.studies.findIndex((s) => s.key === key);
    const next = this.studies[i + 1] || null;
    return next ? next.key : null;
  }
}
