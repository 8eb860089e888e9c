// The study view: loads GET /api/studies/{key}, shows its header in the
// viewer pane, the images (viewer.js) and the findings with the review
// actions (review.js), and keeps them in step (selecting a finding shows its
// heatmap on its evidence slice). Reloads on live events without losing a
// form the user is typing in.

import { getJson, seg } from './api.js';
import { h, mount, words, announce } from './dom.js';
import { Viewer } from './viewer.js';
import { FindingsPanel } from './review.js';

export class StudyView {
  /** `onBack()` returns to the worklist; `onChanged()` after the user changed the study (review, acknowledgement). */
  constructor(viewerPane, findingsPane, { onBack, onChanged = () => {} }) {
    this.viewerPane = viewerPane;
    this.findingsPane = findingsPane;
    this.onBack = onBack;
    this.onChanged = onChanged;
    this.key = null;
    this.viewer = null;
    this.panel = null;
    this.generation = 0;
  }

  /** Opens the study `key` (no-op when it is already open). */
  async open(key) {
    if (key === this.key && this.study) return;
    this.close();
    this.key = key;
    const generation = ++this.generation;
    mount(this.viewerPane, h('p', { class: 'placeholder', 'data-testid': 'study-loading' }, 'Loading the study…'));
    mount(this.findingsPane);
    try {
      const study = await getJson(`/api/studies/${seg(key)}`);
      if (generation !== this.generation) return;
      this.study = study;
      this.build();
    } catch (e) {
      if (generation !== this.generation) return;
      mount(this.viewerPane, this.backButton(),
        h('p', { class: 'error', role: 'alert', 'data-testid': 'study-error' }, e.describe ? e.describe() : String(e)));
    }
  }

  backButton() {
    return h('button', { type: 'button', class: 'ghost back-to-worklist', 'data-testid': 'back-to-worklist', onclick: () => this.onBack() }, '← Worklist');
  }

  build() {
    const s = this.study;
    this.banner = h('p', { class: 'notice', role: 'status', 'data-testid': 'study-changed', hidden: true },
      'This study changed meanwhile. ',
      h('button', { type: 'button', onclick: () => this.reload(true) }, 'Reload'));
    const viewerBox = h('div');
    mount(this.viewerPane,
      h('div', { class: 'study-head', 'data-testid': 'study-head', 'data-key': s.key },
        this.backButton(),
        h('h2', { id: 'study-title' }, s.description || `${s.modality} ${s.body_part || ''}`),
        h('span', { class: 'chip' }, [s.modality, s.body_part].filter(Boolean).join(' · ')),
        h('span', { class: 'chip', 'data-testid': 'study-state' }, words(s.state)),
        s.urgency !== undefined ? h('span', { class: 'chip', title: 'Urgency' }, `urgency ${s.urgency}`) : null,
        s.decision ? h('span', { class: `chip ${s.decision === 'positive' ? 'positive' : 'negative'}` }, words(s.decision)) : null),
      this.banner,
      viewerBox);
    this.viewer = new Viewer(viewerBox);
    this.viewer.load(s);
    this.panel = new FindingsPanel(this.findingsPane, {
      onSelect: (f, how = {}) => this.viewer && this.viewer.setFinding(f, { jump: !how.reloaded }),
      onReviewed: () => { this.reload(false); this.onChanged(); },
    });
    this.panel.show(s);
  }

  /**
   * Reloads the open study. With `force` false and a form being typed in,
   * shows a "changed meanwhile" banner instead.
   */
  async reload(force = false, { fromEvent = false } = {}) {
    if (!this.key || !this.study) return;
    if (fromEvent && !force && this.panel && this.panel.dirty()) {
      this.banner.hidden = false;
      return;
    }
    const generation = this.generation;
    try {
      const study = await getJson(`/api/studies/${seg(this.key)}`);
      if (generation !== this.generation) return;
      if (!force && JSON.stringify(study) === JSON.stringify(this.study)) { this.banner.hidden = true; return; }
      const seriesChanged = JSON.stringify(study.series) !== JSON.stringify(this.study.series);
      this.study = study;
      if (seriesChanged) { const key = this.key; this.key = null; this.study = null; await this.open(key); return; }
      this.banner.hidden = true;
      this.panel.show(study, { keepState: true });
    } catch (e) {
      announce(e.describe ? e.describe() : String(e), 'error');
    }
  }

  close() {
    this.generation++;
    if (this.viewer) this.viewer.destroy();
    this.viewer = null;
    this.panel = null;
    this.study = null;
    this.key = null;
  }

  /** Clears both panes (no study open). */
  showNothing(text) {
    this.close();
    mount(this.viewerPane, h('p', { class: 'placeholder', 'data-testid': 'no-study' }, text));
    mount(this.findingsPane, h('p', { class: 'placeholder' }, 'The AI findings of the open study appear here.'));
  }
}
