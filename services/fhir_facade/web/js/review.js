// The finding panel and the review actions of one study: each AI finding
// with its evidence facts; accept, reject (reason required) and modify
// (subtype, side, size) through POST /api/findings/{id}/review; acknowledge
// an alert through POST /api/alerts/{id}/acknowledge. A refusal (403) is
// shown with the server's reason and the form stays as typed.

import { postJson, seg, me as currentMe } from './api.js';
import { h, mount, pct, words, side, size, announce, keepingFocus } from './dom.js';

const LATERALITIES = ['', 'left', 'right', 'bilateral', 'midline', 'not_applicable'];
const SUBTYPES = ['epidural', 'subdural', 'subarachnoid', 'intraparenchymal', 'intraventricular'];
const REVIEWABLE = new Set(['pending']);

const CHANGE_WORDS = {
  no_prior: 'no prior available', new: 'new', larger: 'larger', stable: 'stable', smaller: 'smaller',
  resolved: 'resolved', not_compared: 'not compared',
};

/** "Larger since 2026-03-01 (216 days): 5.4 → 17.9 mL", or why there is no comparison. */
function changeText(c) {
  const what = CHANGE_WORDS[c.change] || c.change;
  if (c.change === 'no_prior') return 'No prior available';
  if (c.change === 'not_compared') return `Not compared${c.note ? `: ${c.note}` : ''}`;
  const when = c.prior_date ? ` since ${c.prior_date}` : ' since the prior';
  const days = c.interval_days >= 0 ? ` (${c.interval_days} days)` : '';
  const fmt = (v) => (v === null || v === undefined ? '–' : Number(v).toFixed(1));
  const sizes = c.prior_size !== null || c.current_size !== null ? `: ${fmt(c.prior_size)} → ${fmt(c.current_size)} ${c.unit || ''}` : '';
  return `${what[0].toUpperCase()}${what.slice(1)}${when}${days}${sizes.trimEnd()}`;
}

export class FindingsPanel {
  /**
   * `onSelect(finding)` when the selected finding changes; `onReviewed(result)`
   * after a successful review or acknowledgement (the study should reload).
   */
  constructor(container, { onSelect, onReviewed }) {
    this.container = container;
    this.onSelect = onSelect;
    this.onReviewed = onReviewed;
    this.study = null;
    this.selectedId = null;
    this.form = null;          // null | 'reject' | 'modify'
    this.draft = {};           // what the user typed, kept across re-renders
    this.message = null;       // {kind, text}
    this.busy = false;
  }

  /** Shows a study (fresh or reloaded); keeps the selection and any open form. */
  show(study, { keepState = false } = {}) {
    const sameStudy = this.study && this.study.key === study.key;
    this.study = study;
    const findings = study.findings || [];
    if (!keepState || !sameStudy) {
      this.form = null;
      this.draft = {};
      this.message = null;
    }
    const before = sameStudy ? this.selectedId : null;
    if (!sameStudy || !findings.some((f) => f.finding_id === this.selectedId)) {
      const first = findings.find((f) => f.positive) || findings[0];
      this.selectedId = first ? first.finding_id : null;
      this.form = null;
    }
    this.render();
    // A reload that keeps the selection must not move the viewer.
    this.onSelect(this.selected(), { reloaded: keepState && before === this.selectedId });
  }

  selected() {
    return (this.study?.findings || []).find((f) => f.finding_id === this.selectedId) || null;
  }

  /** True when the user has typed something not yet sent. */
  dirty() {
    this.captureDraft();
    return Boolean(this.form) && Object.values(this.draft).some((v) => v !== '' && v !== undefined);
  }

  select(id) {
    if (id === this.selectedId) return;
    this.selectedId = id;
    this.form = null;
    this.draft = {};
    this.message = null;
    this.render();
    this.onSelect(this.selected());
  }

  /** Selects the next finding (cycling). */
  selectNext() {
    const fs = this.study?.findings || [];
    if (!fs.length) return;
    const i = fs.findIndex((f) => f.finding_id === this.selectedId);
    this.select(fs[(i + 1) % fs.length].finding_id);
  }

  captureDraft() {
    if (!this.form) return;
    for (const el of this.container.querySelectorAll('[data-draft]')) this.draft[el.dataset.draft] = el.value;
  }

  render({ capture = true } = {}) {
    if (capture) this.captureDraft();
    const study = this.study;
    const findings = study.findings || [];
    const report = study.report || null;
    const head = h('div', {},
      h('h2', {}, 'AI findings'),
      h('div', { class: 'report-line' },
        h('span', { class: 'muted' }, 'Report'),
        h('span', { class: `chip status-${report ? report.status : 'none'}`, id: 'report-status', 'data-testid': 'report-status',
          'data-status': report ? report.status : 'none' }, report ? words(report.status) : 'none'),
        report && report.version ? h('span', { class: 'muted' }, `v${report.version}`) : null),
      (study.quality_flags || []).length
        ? h('p', {}, (study.quality_flags || []).map((f) => h('span', { class: 'chip flag' }, `⚠ ${words(f)}`))) : null);
    const messageEl = this.message
      ? h('p', { class: this.message.kind, role: this.message.kind === 'error' ? 'alert' : 'status',
        id: this.message.kind === 'error' ? 'review-error' : 'review-message',
        'data-testid': this.message.kind === 'error' ? 'review-error' : 'review-message' }, this.message.text)
      : null;
    if (!findings.length) {
      mount(this.container, head, messageEl,
        h('p', { class: 'empty', 'data-testid': 'no-findings' }, study.state === 'analysed' ? 'No findings for this study.' : `No AI result yet (${words(study.state)}).`));
      return;
    }
    const list = h('ul', { class: 'findings', 'aria-label': 'Findings' }, findings.map((f) => h('li', {},
      h('button', {
        type: 'button', class: 'finding', 'data-testid': 'finding', 'data-finding-id': f.finding_id, 'data-label': f.label,
        'data-outcome': f.outcome, 'data-critical': String(Boolean(f.critical)),
        'aria-pressed': String(f.finding_id === this.selectedId), onclick: () => this.select(f.finding_id),
      },
      h('span', { class: 'name' },
        h('span', {}, f.display || f.label),
        h('span', { class: `chip ${f.positive ? 'positive' : 'negative'}` }, f.positive ? 'positive' : 'negative'),
        f.critical ? h('span', { class: 'chip critical' }, 'critical') : null),
      h('span', { class: 'muted' }, `${pct(f.probability)} · ${words(f.outcome)}`)))));
    const f = this.selected();
    keepingFocus(this.container, () => mount(this.container, head, messageEl, list, f ? this.detail(f) : null));
  }

  detail(f) {
    const model = f.model || {};
    const mayReview = (currentMe()?.can?.review) !== false;  // a hint: the service still decides
    const canReview = mayReview && REVIEWABLE.has(f.outcome);
    const alert = f.alert;
    const facts = [
      ['Finding', f.display || f.label, 'fact-finding'],
      ['Subtype', f.subtype ? words(f.subtype) : '–', 'fact-subtype'],
      ['Side', side(f.laterality), 'fact-side'],
      ['Zone', f.zone || '–', 'fact-zone'],
      ['Size', size(f), 'fact-size'],
      f.comparison ? ['Since prior', changeText(f.comparison), 'finding-change'] : null,
      ['Confidence', `${pct(f.probability)} (operating point ${pct(f.operating_point)})`, 'fact-confidence'],
      ['Model', `${model.model_id || '–'} ${model.model_version || ''}`.trim(), 'fact-model'],
      ['Image quality', (f.quality_flags || []).length ? f.quality_flags.map(words).join(', ') : 'no flags', 'fact-quality'],
      ['Outcome', words(f.outcome), 'finding-outcome'],
      f.reviewer ? ['Reviewed by', f.reviewer, 'fact-reviewer'] : null,
      f.decided_by ? ['Decided by', f.decided_by, 'fact-decided-by'] : null,
      ['Alert', alert ? `${alert.priority} · ${words(alert.state)}` : 'none', 'finding-alert'],
      ['Evidence', (f.evidence || []).length ? `${f.evidence.length} slice${f.evidence.length > 1 ? 's' : ''} with a heatmap` : 'no heatmap', 'fact-evidence'],
    ].filter(Boolean);
    const prob = Math.max(0, Math.min(1, f.probability || 0));
    const op = Math.max(0, Math.min(1, f.operating_point || 0));
    return h('section', { class: 'detail', 'aria-label': 'Selected finding', 'data-testid': 'finding-detail', 'data-finding-id': f.finding_id },
      h('div', { class: 'bar', role: 'img', 'aria-label': `Confidence ${pct(prob)}, operating point ${pct(op)}` },
        h('span', { style: { width: `${prob * 100}%` } }), h('i', { style: { left: `${op * 100}%` }, title: 'Operating point' })),
      h('dl', { class: 'facts' }, facts.map(([k, v, id]) => [h('dt', {}, k), h('dd', { 'data-testid': id, id }, v)])),
      h('div', { class: 'actions' },
        h('button', { type: 'button', class: 'primary', id: 'accept', 'data-testid': 'accept', disabled: !canReview || this.busy,
          title: 'Accept (a)', onclick: () => this.accept() }, 'Accept'),
        h('button', { type: 'button', class: 'danger', id: 'reject', 'data-testid': 'reject', disabled: !canReview || this.busy,
          'aria-expanded': String(this.form === 'reject'), title: 'Reject (r)', onclick: () => this.openForm('reject') }, 'Reject…'),
        h('button', { type: 'button', id: 'modify', 'data-testid': 'modify', disabled: !canReview || this.busy,
          'aria-expanded': String(this.form === 'modify'), title: 'Modify (m)', onclick: () => this.openForm('modify') }, 'Modify…'),
        alert && alert.alert_id && alert.state === 'open'
          ? h('button', { type: 'button', id: 'acknowledge', 'data-testid': 'acknowledge', disabled: this.busy,
            onclick: () => this.acknowledge(alert) }, 'Acknowledge alert') : null),
      !mayReview ? h('p', { class: 'muted' }, 'Your role does not review AI findings.')
        : !canReview ? h('p', { class: 'muted' }, `Already reviewed: ${words(f.outcome)}.`) : null,
      this.form === 'reject' ? this.rejectForm(f) : null,
      this.form === 'modify' ? this.modifyForm(f) : null);
  }

  rejectForm() {
    const reason = h('textarea', { id: 'reject-reason', 'data-testid': 'reject-reason', 'data-draft': 'reason', required: true,
      placeholder: 'Why the AI finding is wrong (required)' });
    reason.value = this.draft.reason || '';
    return h('form', { class: 'review-form', 'data-testid': 'reject-form', 'aria-label': 'Reject the finding',
      onsubmit: (e) => { e.preventDefault(); this.reject(); } },
    h('label', { for: 'reject-reason' }, 'Reason for rejecting'), reason,
    h('div', { class: 'actions' },
      h('button', { type: 'submit', class: 'danger', id: 'reject-submit', 'data-testid': 'reject-submit', disabled: this.busy }, 'Reject finding'),
      h('button', { type: 'button', class: 'ghost', 'data-testid': 'form-cancel', onclick: () => this.closeForm() }, 'Cancel')));
  }

  modifyForm(f) {
    const isVolume = f.volume_ml !== null && f.volume_ml !== undefined;
    const d = this.draft;
    const subtype = h('input', { id: 'modify-subtype', 'data-testid': 'modify-subtype', 'data-draft': 'subtype', list: 'subtype-options', autocomplete: 'off' });
    subtype.value = d.subtype ?? (f.subtype || '');
    const lat = h('select', { id: 'modify-side', 'data-testid': 'modify-side', 'data-draft': 'laterality' },
      LATERALITIES.map((l) => h('option', { value: l }, l ? words(l) : '(unknown)')));
    lat.value = d.laterality ?? (f.laterality || '');
    const sizeInput = h('input', { id: 'modify-size', 'data-testid': 'modify-size', 'data-draft': 'size', type: 'number', min: '0', step: '0.1', inputmode: 'decimal' });
    sizeInput.value = d.size ?? (isVolume ? f.volume_ml : (f.area_cm2 ?? ''));
    const reason = h('textarea', { id: 'modify-reason', 'data-testid': 'modify-reason', 'data-draft': 'reason', placeholder: 'What you changed and why (optional)' });
    reason.value = d.reason || '';
    return h('form', { class: 'review-form', 'data-testid': 'modify-form', 'aria-label': 'Modify the finding',
      onsubmit: (e) => { e.preventDefault(); this.modify(f); } },
    h('datalist', { id: 'subtype-options' }, SUBTYPES.map((s) => h('option', { value: s }))),
    h('div', { class: 'grid' },
      h('div', {}, h('label', { for: 'modify-subtype' }, 'Subtype'), subtype),
      h('div', {}, h('label', { for: 'modify-side' }, 'Side'), lat),
      h('div', {}, h('label', { for: 'modify-size' }, isVolume ? 'Volume (mL)' : 'Area (cm²)'), sizeInput)),
    h('label', { for: 'modify-reason' }, 'Note'), reason,
    h('div', { class: 'actions' },
      h('button', { type: 'submit', class: 'primary', id: 'modify-submit', 'data-testid': 'modify-submit', disabled: this.busy }, 'Save modification'),
      h('button', { type: 'button', class: 'ghost', 'data-testid': 'form-cancel', onclick: () => this.closeForm() }, 'Cancel')));
  }

  openForm(kind) {
    const f = this.selected();
    if (!f || !REVIEWABLE.has(f.outcome)) return;
    if (this.form !== kind) { this.captureDraft(); this.form = kind; this.draft = {}; }
    this.message = null;
    this.render({ capture: false });
    const focus = this.container.querySelector(kind === 'reject' ? '#reject-reason' : '#modify-subtype');
    if (focus) focus.focus();
  }

  closeForm() {
    this.form = null;
    this.draft = {};
    this.render();
  }

  accept() {
    const f = this.selected();
    if (!f || !REVIEWABLE.has(f.outcome)) return;
    this.send(f, { action: 'accept' }, 'Accepted');
  }

  /** Opens the reject form (keyboard r). */
  startReject() { this.openForm('reject'); }

  reject() {
    const f = this.selected();
    this.captureDraft();
    const reason = (this.draft.reason || '').trim();
    if (!reason) {
      this.message = { kind: 'error', text: 'A reason is required to reject a finding.' };
      this.render();
      this.container.querySelector('#reject-reason')?.focus();
      return;
    }
    this.send(f, { action: 'reject', reason }, 'Rejected');
  }

  modify(f) {
    this.captureDraft();
    const d = this.draft;
    const modification = {};
    if ((d.subtype || '') !== (f.subtype || '')) modification.subtype = d.subtype.trim();
    if ((d.laterality || '') !== (f.laterality || '')) modification.laterality = d.laterality;
    const isVolume = f.volume_ml !== null && f.volume_ml !== undefined;
    if (d.size !== undefined && d.size !== '') {
      const v = Number(d.size);
      const old = isVolume ? f.volume_ml : f.area_cm2;
      if (!Number.isFinite(v) || v < 0) {
        this.message = { kind: 'error', text: 'The size must be a number of 0 or more.' };
        this.render();
        return;
      }
      if (v !== Number(old)) modification[isVolume ? 'volume_ml' : 'area_cm2'] = v;
    }
    if (!Object.keys(modification).length) {
      this.message = { kind: 'error', text: 'Nothing changed: edit the subtype, side or size first.' };
      this.render();
      return;
    }
    const body = { action: 'modify', modification };
    if ((d.reason || '').trim()) body.reason = d.reason.trim();
    this.send(f, body, 'Modified');
  }

  async send(f, body, verb) {
    this.captureDraft();
    this.busy = true;
    this.render();
    const before = this.study.report ? this.study.report.status : 'none';
    try {
      const result = await postJson(`/api/findings/${seg(f.finding_id)}/review`, body);
      f.outcome = result.outcome || f.outcome;
      if (result.report) this.study.report = result.report;
      const after = result.report ? result.report.status : before;
      const reportText = after !== before ? ` Report ${words(before)} → ${words(after)}.` : ` Report ${words(after)}.`;
      const caseText = result.case_id ? ' An escalation case was opened for a senior radiologist.' : '';
      this.message = { kind: 'success', text: `${verb}: ${f.display || f.label} is now ${words(f.outcome)}.${reportText}${caseText}` };
      this.form = null;
      this.draft = {};
      announce(this.message.text);
      this.busy = false;
      this.render();
      this.onReviewed(result);
    } catch (e) {
      this.busy = false;
      this.message = { kind: 'error', text: e.describe ? e.describe() : String(e) };
      announce(this.message.text, 'error');
      this.render();  // the form and what was typed stay
      if (e.status === 409) this.onReviewed({});  // the study changed: show its current state
    }
  }

  async acknowledge(alert) {
    this.busy = true;
    this.render();
    try {
      const result = await postJson(`/api/alerts/${seg(alert.alert_id)}/acknowledge`, {});
      alert.state = result.state || 'acknowledged';
      this.message = { kind: 'success', text: `Alert ${words(alert.state)}.` };
      this.busy = false;
      this.render();
      this.onReviewed(result);
    } catch (e) {
      this.busy = false;
      this.message = { kind: 'error', text: e.describe ? e.describe() : String(e) };
      this.render();
    }
  }
}
