// The senior's escalation queue (GET /api/cases?state=…): each case with
// the AI finding, who rejected it and why, and the decision form (confirm
// the AI finding / uphold the rejection / modify, with a rationale) sent
// through POST /api/cases/{id}/decision. A refusal (403) is shown in the
// case's card with the server's reason; what was typed stays.

import { getJson, postJson, seg } from './api.js';
import { h, mount, pct, words, side, size, when, announce, keepingFocus } from './dom.js';

const LATERALITIES = ['', 'left', 'right', 'bilateral', 'midline', 'not_applicable'];

export class CasesPage {
  constructor(container, { onOpenStudy }) {
    this.container = container;
    this.onOpenStudy = onOpenStudy;
    this.state = 'open';
    this.cases = [];
    this.drafts = new Map();    // case_id → {decision, rationale, subtype, laterality, size}
    this.errors = new Map();    // case_id → message
    this.message = null;
    this.generation = 0;
  }

  async load() {
    const generation = ++this.generation;
    this.capture();
    if (!this.listEl) this.build();
    this.listEl.setAttribute('aria-busy', 'true');
    try {
      const body = await getJson(`/api/cases?state=${encodeURIComponent(this.state)}`);
      if (generation !== this.generation) return;
      this.pageError.hidden = true;
      const json = JSON.stringify(body.cases || []);
      if (json === this.lastJson && this.listEl.childElementCount === this.cases.length) return;  // unchanged
      this.lastJson = json;
      this.cases = body.cases || [];
      this.render();
    } catch (e) {
      if (generation !== this.generation) return;
      this.pageError.textContent = e.describe ? e.describe() : String(e);
      this.pageError.hidden = false;
    } finally {
      this.listEl.removeAttribute('aria-busy');
    }
  }

  build() {
    this.lastJson = null;
    const filter = h('select', { id: 'cases-state', 'data-testid': 'cases-state', onchange: () => { this.state = filter.value; this.load(); } },
      [['open', 'Open'], ['decided', 'Decided'], ['any', 'All']].map(([v, t]) => h('option', { value: v, selected: v === this.state }, t)));
    this.pageError = h('p', { class: 'error', role: 'alert', 'data-testid': 'cases-error', hidden: true });
    this.messageEl = h('p', { class: 'success', role: 'status', 'data-testid': 'cases-message', hidden: true });
    this.countEl = h('p', { class: 'muted', 'data-testid': 'cases-count' });
    this.listEl = h('ul', { class: 'cards', id: 'cases', 'data-testid': 'cases-list', 'aria-label': 'Escalation cases' });
    mount(this.container,
      h('h1', {}, 'Escalation cases'),
      h('p', { class: 'muted' }, 'Critical AI findings a reviewer rejected: a senior radiologist decides.'),
      h('div', { class: 'filters' }, h('div', {}, h('label', { for: 'cases-state' }, 'Show'), filter)),
      this.pageError, this.messageEl, this.countEl, this.listEl);
  }

  capture() {
    if (!this.listEl) return;
    for (const card of this.listEl.querySelectorAll('[data-case-id]')) {
      const draft = {};
      for (const el of card.querySelectorAll('[data-draft]')) draft[el.dataset.draft] = el.value;
      this.drafts.set(card.dataset.caseId, draft);
    }
  }

  render() {
    this.capture();
    const n = this.cases.length;
    this.countEl.textContent = n === 0 ? `No ${this.state === 'any' ? '' : `${this.state} `}cases.` : `${n} case${n === 1 ? '' : 's'}`;
    keepingFocus(this.listEl, () => mount(this.listEl, this.cases.map((c) => h('li', {}, this.card(c)))));
    if (this.message) { this.messageEl.textContent = this.message; this.messageEl.hidden = false; } else this.messageEl.hidden = true;
  }

  card(c) {
    const f = c.finding || {};
    const d = this.drafts.get(c.case_id) || {};
    const open = c.state === 'open';
    const facts = [
      ['Finding', `${f.display || f.label || '–'}${f.subtype ? ` (${words(f.subtype)})` : ''}`],
      ['Side / zone', `${side(f.laterality)}${f.zone ? ` · ${f.zone}` : ''}`],
      ['Size', size(f)],
      ['Confidence', `${pct(f.probability)} (operating point ${pct(f.operating_point)})`],
      ['Model', f.model ? `${f.model.model_id} ${f.model.model_version}` : '–'],
      ['Rejected by', c.rejected_by || '–', 'case-rejected-by'],
      ['Reason', c.reject_reason || '–', 'case-reject-reason'],
      ['Opened', when(c.created_at)],
      ['Due', when(c.due_at)],
      ['Group', c.assigned_group || '–'],
      !open ? ['Decision', `${words(c.decision)} by ${c.decided_by || '–'}`, 'case-decision-made'] : null,
      !open && c.rationale ? ['Rationale', c.rationale] : null,
    ].filter(Boolean);
    const error = this.errors.get(c.case_id);
    return h('article', { class: 'card', 'data-testid': 'case-card', 'data-case-id': c.case_id, 'data-finding-id': f.finding_id || '',
      'data-state': c.state, 'aria-labelledby': `case-${c.case_id}-title` },
    h('h3', { id: `case-${c.case_id}-title` },
      h('span', {}, f.display || f.label || 'Finding'),
      f.critical ? h('span', { class: 'chip critical' }, 'critical') : null,
      h('span', { class: 'chip' }, words(c.state))),
    h('dl', { class: 'facts' }, facts.map(([k, v, id]) => [h('dt', {}, k), h('dd', id ? { 'data-testid': id } : {}, v)])),
    c.study_key ? h('button', { type: 'button', class: 'ghost', 'data-testid': 'case-open-study', onclick: () => this.onOpenStudy(c.study_key) }, 'Open the study') : null,
    error ? h('p', { class: 'error', role: 'alert', 'data-testid': 'case-error' }, error) : null,
    open ? this.form(c, f, d) : null);
  }

  form(c, f, d) {
    const id = (name) => `case-${c.case_id}-${name}`;
    const decision = h('select', { id: id('decision'), 'data-testid': 'case-decision', 'data-draft': 'decision',
      onchange: () => { this.capture(); this.render(); } },
    [['confirm', 'Confirm the AI finding'], ['uphold_rejection', 'Uphold the rejection'], ['modify', 'Modify the finding']]
      .map(([v, t]) => h('option', { value: v }, t)));
    decision.value = d.decision || 'confirm';
    const rationale = h('textarea', { id: id('rationale'), 'data-testid': 'case-rationale', 'data-draft': 'rationale',
      placeholder: 'Your rationale (required)', required: true });
    rationale.value = d.rationale || '';
    const modify = decision.value === 'modify';
    let extra = null;
    if (modify) {
      const isVolume = f.volume_ml !== null && f.volume_ml !== undefined;
      const subtype = h('input', { id: id('subtype'), 'data-testid': 'case-subtype', 'data-draft': 'subtype' });
      subtype.value = d.subtype ?? (f.subtype || '');
      const lat = h('select', { id: id('side'), 'data-testid': 'case-side', 'data-draft': 'laterality' },
        LATERALITIES.map((l) => h('option', { value: l }, l ? words(l) : '(unknown)')));
      lat.value = d.laterality ?? (f.laterality || '');
      const sz = h('input', { id: id('size'), 'data-testid': 'case-size', 'data-draft': 'size', type: 'number', min: '0', step: '0.1' });
      sz.value = d.size ?? (isVolume ? f.volume_ml : (f.area_cm2 ?? ''));
      extra = h('div', { class: 'grid' },
        h('div', {}, h('label', { for: id('subtype') }, 'Subtype'), subtype),
        h('div', {}, h('label', { for: id('side') }, 'Side'), lat),
        h('div', {}, h('label', { for: id('size') }, isVolume ? 'Volume (mL)' : 'Area (cm²)'), sz));
    }
    return h('form', { class: 'review-form', 'data-testid': 'case-form', 'aria-label': 'Decide the case',
      onsubmit: (e) => { e.preventDefault(); this.decide(c); } },
    h('label', { for: id('decision') }, 'Decision'), decision,
    extra,
    h('label', { for: id('rationale') }, 'Rationale'), rationale,
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary', 'data-testid': 'case-submit' }, 'Decide')));
  }

  async decide(c) {
    this.capture();
    const d = this.drafts.get(c.case_id) || {};
    const f = c.finding || {};
    const rationale = (d.rationale || '').trim();
    if (!rationale) {
      this.errors.set(c.case_id, 'A rationale is required.');
      this.render();
      return;
    }
    const body = { decision: d.decision || 'confirm', rationale };
    if (body.decision === 'modify') {
      const modification = {};
      if ((d.subtype || '') !== (f.subtype || '')) modification.subtype = (d.subtype || '').trim();
      if ((d.laterality || '') !== (f.laterality || '')) modification.laterality = d.laterality;
      if (d.size !== undefined && d.size !== '') {
        const v = Number(d.size);
        const isVolume = f.volume_ml !== null && f.volume_ml !== undefined;
        if (!Number.isFinite(v) || v < 0) { this.errors.set(c.case_id, 'The size must be a number of 0 or more.'); this.render(); return; }
        if (v !== Number(isVolume ? f.volume_ml : f.area_cm2)) modification[isVolume ? 'volume_ml' : 'area_cm2'] = v;
      }
      body.modification = modification;
    }
    this.errors.delete(c.case_id);
    this.lastJson = null;
    const button = this.listEl.querySelector(`[data-case-id="${CSS.escape(c.case_id)}"] [data-testid="case-submit"]`);
    if (button) button.disabled = true;
    try {
      const result = await postJson(`/api/cases/${seg(c.case_id)}/decision`, body);
      const report = result.report ? ` Report ${words(result.report.status)}.` : '';
      this.message = `Case decided: ${words(body.decision)} (${f.display || f.label || 'finding'}).${report}`;
      this.drafts.delete(c.case_id);
      announce(this.message);
      await this.load();
    } catch (e) {
      this.errors.set(c.case_id, e.describe ? e.describe() : String(e));
      this.message = null;
      this.render();
    }
  }
}
