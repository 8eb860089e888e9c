// The workspace's entry point: sign-in and sign-out, routing by
// location.hash (#/worklist, #/study/<key>, #/cases, #/department), the
// live update loop and the keyboard shortcuts. Study keys are opaque (an
// HMAC of the Study Instance UID): no patient data ever goes in a URL.

import * as api from './api.js';
import { announce, typing } from './dom.js';
import { Worklist } from './worklist.js';
import { StudyView } from './study.js';
import { CasesPage } from './cases.js';
import { DepartmentPage } from './department.js';
import { startEvents } from './events.js';

const $ = (id) => document.getElementById(id);

const state = {
  worklist: null,
  study: null,
  cases: null,
  department: null,
  stopEvents: null,
  route: null,
  reloadTimer: 0,
};

function parseRoute() {
  const hash = location.hash.replace(/^#\/?/, '');
  const [name, ...rest] = hash.split('/');
  if (name === 'study' && rest[0]) return { name: 'study', key: decodeURIComponent(rest.join('/')) };
  if (['worklist', 'cases', 'department', 'signin'].includes(name)) return { name };
  return { name: 'worklist' };
}

function go(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

function showSignIn(message) {
  document.body.dataset.route = 'signin';
  $('signin-view').hidden = false;
  $('workspace').hidden = true;
  $('page-view').hidden = true;
  $('nav').hidden = true;
  $('who').hidden = true;
  $('sign-out').hidden = true;
  const err = $('signin-error');
  err.textContent = message || '';
  err.hidden = !message;
  $('signin-password').value = '';
  $('signin-user').focus();
}

function teardown() {
  if (state.stopEvents) state.stopEvents();
  state.stopEvents = null;
  if (state.study) state.study.close();
  state.worklist = state.study = state.cases = state.department = null;
  $('worklist-pane').replaceChildren();
  $('viewer-pane').replaceChildren();
  $('findings-pane').replaceChildren();
  $('page-view').replaceChildren();
}

function signOut(message) {
  teardown();
  api.clearSession();
  showSignIn(message);
}

function setUpSession() {
  const me = api.me() || { user: '?', can: {} };
  const can = me.can || {};
  $('who').replaceChildren(
    Object.assign(document.createElement('span'), { className: 'long', textContent: me.display_name || me.user }),
    Object.assign(document.createElement('span'), { className: 'short', textContent: me.user }));
  $('who').title = `Signed in as ${me.user}${(me.groups || []).length ? ` (${me.groups.join(', ')})` : ''}`;
  $('who').dataset.user = me.user;
  $('who').hidden = false;
  $('sign-out').hidden = false;
  $('nav').hidden = false;
  $('nav-cases').hidden = !can.decide_cases;
  $('nav-department').hidden = !can.department;
  $('signin-view').hidden = true;

  state.worklist = new Worklist($('worklist-pane'), { onOpen: (key) => go(`#/study/${encodeURIComponent(key)}`) });
  state.study = new StudyView($('viewer-pane'), $('findings-pane'), {
    onBack: () => go('#/worklist'),
    onChanged: () => state.worklist && state.worklist.load(),
  });
  state.cases = new CasesPage($('page-view'), { onOpenStudy: (key) => go(`#/study/${encodeURIComponent(key)}`) });
  state.department = new DepartmentPage($('page-view'));
  state.worklist.load();
  state.stopEvents = startEvents({
    onEvents: (events) => onEvents(events),
    onReset: () => reloadAll(),
    onState: (s) => { const el = $('live-state'); el.dataset.state = s; el.textContent = `live: ${s}`; },
  });
}

function onEvents(events) {
  // Coalesce bursts: one reload per 300 ms.
  clearTimeout(state.reloadTimer);
  const keys = new Set(events.map((e) => e.study_key).filter(Boolean));
  const cases = events.some((e) => e.kind === 'case');
  state.reloadTimer = setTimeout(() => {
    if (!state.worklist) return;
    state.worklist.load();
    if (state.route?.name === 'study' && keys.has(state.route.key)) state.study.reload(false, { fromEvent: true });
    if (state.route?.name === 'cases' && cases) state.cases.load();
  }, 300);
}

function reloadAll() {
  if (!state.worklist) return;
  state.worklist.load();
  if (state.route?.name === 'study') state.study.reload(false, { fromEvent: true });
  if (state.route?.name === 'cases') state.cases.load();
  if (state.route?.name === 'department') state.department.load();
}

function route() {
  if (!api.token()) { showSignIn(); return; }
  if (!state.worklist) setUpSession();
  const r = parseRoute();
  if (r.name === 'signin') { go('#/worklist'); return; }
  const previous = state.route;
  state.route = r;
  document.body.dataset.route = r.name;
  for (const [name, link] of [['worklist', 'nav-worklist'], ['cases', 'nav-cases'], ['department', 'nav-department']]) {
    if (r.name === name || (name === 'worklist' && r.name === 'study')) $(link).setAttribute('aria-current', 'page');
    else $(link).removeAttribute('aria-current');
  }
  const page = r.name === 'cases' || r.name === 'department';
  $('workspace').hidden = page;
  $('page-view').hidden = !page;
  if (r.name === 'worklist') {
    state.study.showNothing('Select a study in the worklist (j/k to move, Enter to open).');
    if (previous && previous.name !== 'worklist') state.worklist.load();
  } else if (r.name === 'study') {
    state.worklist.setOpenKey(r.key);
    state.study.open(r.key);
  } else if (r.name === 'cases') {
    state.cases.listEl = null;  // the page container is shared: rebuild
    state.cases.load();
  } else if (r.name === 'department') {
    state.department.load();
  }
}

async function onSignIn(e) {
  e.preventDefault();
  const user = $('signin-user').value.trim();
  const password = $('signin-password').value;
  const err = $('signin-error');
  if (!user || !password) {
    err.textContent = 'Enter your user name and password.';
    err.hidden = false;
    return;
  }
  $('signin-submit').disabled = true;
  try {
    await api.signIn(user, password);
    try { await api.refreshMe(); } catch { /* the Me from the sign-in answer will do */ }
    $('signin-password').value = '';
    err.hidden = true;
    teardown();
    if (!location.hash || location.hash === '#/signin') location.hash = '#/worklist';
    route();
    announce(`Signed in as ${api.me()?.user ?? user}.`);
  } catch (ex) {
    err.textContent = ex.status === 401 ? 'Wrong user name or password.' : (ex.describe ? ex.describe() : String(ex));
    err.hidden = false;
    $('signin-password').value = '';
    $('signin-password').focus();
  } finally {
    $('signin-submit').disabled = false;
  }
}

function onKey(e) {
  if (e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey) return;
  const help = $('help-dialog');
  if (e.key === '?' && !typing(e)) {
    e.preventDefault();
    if (help.open) help.close(); else help.showModal();
    return;
  }
  if (help.open || typing(e) || !api.token() || !state.route) return;
  const r = state.route.name;
  if (r !== 'worklist' && r !== 'study') return;
  const worklistVisible = $('worklist-pane').offsetParent !== null;
  const study = state.study;
  const onNative = e.target && ['BUTTON', 'A', 'SUMMARY'].includes(e.target.tagName);
  switch (e.key) {
    case 'j': case 'ArrowDown':
      if (worklistVisible) { e.preventDefault(); state.worklist.move(1); }
      return;
    case 'k': case 'ArrowUp':
      if (worklistVisible) { e.preventDefault(); state.worklist.move(-1); }
      return;
    case 'Enter':
      if (worklistVisible && !onNative) { e.preventDefault(); state.worklist.openSelected(); }
      return;
    default: break;
  }
  if (r !== 'study' || !study.panel) return;
  switch (e.key) {
    case 'a': e.preventDefault(); study.panel.accept(); break;
    case 'r': e.preventDefault(); study.panel.startReject(); break;
    case 'm': e.preventDefault(); study.panel.openForm('modify'); break;
    case 'f': e.preventDefault(); study.panel.selectNext(); break;
    case 'h': e.preventDefault(); study.viewer?.toggleHeatmap(); break;
    case 'e': e.preventDefault(); study.viewer?.jumpToEvidence(); break;
    case 'p': e.preventDefault(); study.viewer?.togglePrior(); break;
    case 'PageUp': e.preventDefault(); study.viewer?.goTo(study.viewer.slice - 1); break;
    case 'PageDown': e.preventDefault(); study.viewer?.goTo(study.viewer.slice + 1); break;
    case 'n': {
      e.preventDefault();
      const next = state.worklist.nextKey(state.route.key);
      if (next) go(`#/study/${encodeURIComponent(next)}`);
      else announce('This is the last study in the worklist.');
      break;
    }
    default: break;
  }
}

function start() {
  api.onUnauthorized(() => signOut('Your session has ended: please sign in again.'));
  $('signin-form').addEventListener('submit', onSignIn);
  $('sign-out').addEventListener('click', () => { signOut(); history.replaceState(null, '', '#/signin'); announce('Signed out.'); });
  $('help-button').addEventListener('click', () => $('help-dialog').showModal());
  window.addEventListener('hashchange', route);
  document.addEventListener('keydown', onKey);
  if (api.token()) {
    api.refreshMe().then(() => route()).catch((e) => { if (e.status !== 401) route(); });
  } else {
    showSignIn();
  }
}

start();
