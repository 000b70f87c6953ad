// The analysts' workbench: the detection rules and their versions (GET/PUT /v1/rules), and
// backtests of a change on recorded data (POST /v1/backtest): alerts gained and lost, precision
// from officers' outcomes. Shares the map's sign-in (this tab's key). Saving a rule makes a new
// version; detection runs it only once an operator deploys the exported rules.yaml.

import { Api, ApiError } from './api.js';
import { $, clear, fmtFull, h, OUTCOMES, typeLabel } from './dom.js';

const KEY_STORAGE = 'lookout.apiKey';
const POLL_MS = 1000;
const FINAL = new Set(['done', 'failed', 'timeout', 'cancelled', 'interrupted']);
const TLPS = ['CLEAR', 'GREEN', 'AMBER', 'AMBER+STRICT', 'RED'];
const SEVERITIES = ['info', 'low', 'medium', 'high', 'critical'];

// -- signing in (as on the map) --------------------------------------------------------------

function showLogin(message) {
  const backdrop = $('#login');
  backdrop.hidden = false;
  $('#wb-message').textContent = '';
  const error = $('#login-error');
  error.textContent = message || '';
  const input = $('#login-key');
  input.focus();
  $('#login-form').onsubmit = async (event) => {
    event.preventDefault();
    const key = input.value.trim();
    if (!key) return;
    const button = $('#login-form button[type=submit]');
    button.disabled = true;
    error.textContent = '';
    try {
      const session = await new Api(key).get('/v1/me');
      sessionStorage.setItem(KEY_STORAGE, key);
      input.value = '';
      backdrop.hidden = true;
      run(key, session);
    } catch (e) {
      error.textContent = e.status === 401 ? 'This key was not accepted.' : `Cannot sign in: ${e.message}`;
      input.select();
    } finally {
      button.disabled = false;
    }
  };
}

function signOut(message) {
  sessionStorage.removeItem(KEY_STORAGE);
  if (message) sessionStorage.setItem('lookout.signOutMessage', message);
  window.location.reload();
}

async function start() {
  const key = sessionStorage.getItem(KEY_STORAGE);
  const message = sessionStorage.getItem('lookout.signOutMessage');
  sessionStorage.removeItem('lookout.signOutMessage');
  if (!key) { showLogin(message); return; }
  try {
    run(key, await new Api(key).get('/v1/me'));
  } catch (e) {
    sessionStorage.removeItem(KEY_STORAGE);
    showLogin(e.status === 401 ? 'Your key is no longer accepted: sign in again.' : `Cannot reach the API: ${e.message}`);
  }
}

async function run(key, session) {
  const api = new Api(key, { onUnauthorized: () => signOut('Your key was refused (expired or revoked): sign in again.') });
  $('#who').hidden = false;
  $('#who-name').textContent = session.name;
  $('#who-agency').textContent = session.agency;
  $('#who-roles').textContent = session.roles.join(' · ');
  $('#sign-out').onclick = () => signOut();
  const message = $('#wb-message');
  if (!session.roles.includes('analyst') && !session.roles.includes('admin')) {
    message.textContent = 'The workbench needs a key with the analyst role (admins may look at the rules).';
    return;
  }
  const bench = new Workbench(api, session);
  try {
    await bench.load();
  } catch (error) {
    message.textContent = `Rules not loaded: ${error.message}`;
  }
}

/** A JSON request with extra headers (If-Match), a problem+json error as an ApiError. */
async function send(api, method, path, body, headers = {}) {
  const response = await fetch(path, {
    method,
    cache: 'no-store',
    headers: api.headers({ Accept: 'application/json', 'Content-Type': 'application/json', ...headers }),
    body: JSON.stringify(body),
  });
  let data = null;
  try { data = await response.json(); } catch { /* not JSON */ }
  if (!response.ok) {
    if (response.status === 401) api.onUnauthorized();
    throw new ApiError(response.status, data);
  }
  return data;
}

function valueText(value) {
  if (value === null || value === undefined) return '—';
  return typeof value === 'object' ? JSON.stringify(value) : String(value);
}

function paramKind(value) {
  if (typeof value === 'number') return 'number';
  if (typeof value === 'boolean') return 'bool';
  if (typeof value === 'string') return 'text';
  return 'json';
}

function same(a, b) {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** A parameter name that wraps after its underscores, not inside its words. */
function breakable(name) {
  return name.split('_').flatMap((part, i) => (i ? [h('wbr'), `_${part}`] : [part]));
}

/* The rules that could not run in a backtest (a missing model file, say), on either side:
 * their zero alerts say nothing about the rule. */
function notRunning(result) {
  const why = new Map();
  for (const [side, label] of [[result.baseline, 'saved'], [result.proposed, 'proposed']]) {
    for (const d of side.not_running || []) {
      const entry = why.get(d.rule.id) || { reason: d.reason || d.state, sides: [] };
      entry.sides.push(label);
      why.set(d.rule.id, entry);
    }
  }
  return [...why].map(([id, { reason, sides }]) =>
    `${typeLabel(id)}${sides.length === 1 ? ` (${sides[0]} rules only)` : ''}: ${reason}`);
}

function tile(n, label, kind) {
  return h('div', { class: `tile ${kind || ''}` }, h('span', { class: 'n' }, String(n)), h('span', { class: 'k' }, label));
}

// -- the workbench -----------------------------------------------------------------------------

class Workbench {
  constructor(api, session) {
    this.api = api;
    this.session = session;
    this.analyst = session.roles.includes('analyst');
    this.rules = [];
    this.protected = new Set();
    this.files = [];
    this.selected = null;
    this.loaded = null; // the version the editor was filled from, when not the active one
    this.polling = null;
  }

  async load(select) {
    const data = await this.api.get('/v1/rules');
    this.rules = data.rules;
    this.protected = new Set(data.protected_params);
    if (this.analyst && !this.files.length) {
      try { this.files = (await this.api.get('/v1/backtest/data')).files; } catch { this.files = []; }
    }
    $('#wb-message').textContent = '';
    $('#wb-grid').hidden = false;
    $('#deploy-note').textContent = data.note;
    const exportButton = $('#wb-export');
    exportButton.hidden = false;
    exportButton.onclick = () => this.exportRules();
    this.renderList();
    const wanted = select || this.selected || (window.location.hash.match(/rule=([\w]+)/) || [])[1] || this.rules[0]?.id;
    if (wanted) this.select(wanted);
  }

  renderList() {
    const list = clear($('#rule-list'));
    for (const rule of this.rules) {
      const state = rule.deployed ? 'deployed' : `v${rule.deployed_version ?? '—'} deployed`;
      list.append(h('li', {},
        h('button', {
          type: 'button', class: 'rule-btn', 'aria-current': rule.id === this.selected ? 'true' : 'false',
          dataset: { rule: rule.id }, onclick: () => this.select(rule.id),
        },
        h('span', { class: 'r-name' }, typeLabel(rule.id)),
        h('span', { class: 'r-meta' },
          h('span', { class: 'mono' }, `v${rule.active_version}`),
          h('span', { class: rule.deployed ? 'r-dep ok' : 'r-dep pending' }, state),
          rule.active.enabled ? null : h('span', { class: 'r-off' }, 'off')))));
    }
  }

  rule(id) {
    return this.rules.find((r) => r.id === id);
  }

  select(id, fromVersion) {
    const rule = this.rule(id);
    if (!rule) return;
    this.selected = id;
    this.loaded = fromVersion || null;
    history.replaceState(null, '', `#rule=${id}`);
    for (const button of document.querySelectorAll('.rule-btn')) {
      button.setAttribute('aria-current', button.dataset.rule === id ? 'true' : 'false');
    }
    this.renderRule(rule, fromVersion || rule.active);
  }

  // -- the editor ------------------------------------------------------------------------------

  renderRule(rule, shown) {
    const panel = clear($('#rule-panel'));
    const active = rule.active;
    const readonly = !this.analyst;
    panel.append(h('div', { class: 'rule-head' },
      h('h1', { id: 'rule-title' }, typeLabel(rule.id), h('span', { class: 'muted mono' }, ` ${rule.id}`)),
      h('p', { class: 'versions-line' },
        h('span', {}, 'Active ', h('strong', { class: 'mono', id: 'active-version' }, `v${rule.active_version}`),
          ` (${active.origin === 'api' ? `saved by ${active.author.agency}` : 'from config/rules.yaml'}, ${fmtFull(active.created_at)})`),
        h('span', { class: rule.deployed ? 'dep ok' : 'dep pending' },
          rule.deployed ? 'Deployed: detection runs this version'
            : `Not deployed: detection runs v${rule.deployed_version ?? '—'} until an operator installs the exported rules.yaml`)),
      this.loaded ? h('p', { class: 'notice' }, `The editor shows version ${shown.version}; saving makes it version ${rule.history[0].version + 1}.`) : null,
      h('p', { class: 'description' }, active.description),
      active.source ? h('p', { class: 'muted source' }, 'Source: ', active.source) : null));

    const form = h('form', { id: 'rule-form', class: 'rule-form', novalidate: true });
    form.onsubmit = (event) => { event.preventDefault(); this.save(); };
    const meta = h('fieldset', { class: 'meta' }, h('legend', {}, 'Rule'),
      h('label', { class: 'check' }, h('input', { type: 'checkbox', id: 'f-enabled', checked: shown.enabled, disabled: readonly }), 'Enabled'),
      h('label', {}, h('span', { class: 'field-label' }, 'TLP'),
        h('select', { id: 'f-tlp', disabled: readonly }, TLPS.map((t) => h('option', { value: t, selected: t === shown.tlp }, t)))),
      h('label', {}, h('span', { class: 'field-label' }, 'Severity'),
        h('select', { id: 'f-severity', disabled: readonly },
          h('option', { value: '', selected: !shown.severity }, "Detector's own"),
          SEVERITIES.map((s) => h('option', { value: s, selected: s === shown.severity }, s)))),
      h('p', { class: 'field-error', id: 'e-meta', role: 'alert' }));
    const params = h('fieldset', { class: 'params' }, h('legend', {}, 'Parameters'));
    const grid = h('div', { class: 'param-grid' });
    for (const [name, value] of Object.entries(shown.params)) grid.append(this.paramRow(name, value, active.params[name], readonly));
    params.append(grid);
    form.append(meta, params);

    if (!readonly) {
      form.append(h('div', { class: 'save-row' },
        h('label', { class: 'comment' }, h('span', { class: 'field-label' }, 'Why (kept with the version)'),
          h('textarea', { id: 'f-comment', rows: 2, maxlength: 2000, placeholder: 'e.g. loosened after the May review: boats waited 2 to 3 h off Teknaf' })),
        h('div', { class: 'buttons' },
          h('button', { type: 'submit', class: 'btn primary', id: 'wb-save' }, `Save as version ${rule.history[0].version + 1}`),
          h('button', { type: 'button', class: 'btn', id: 'wb-reset', onclick: () => this.select(rule.id) }, 'Reset'))),
      h('p', { class: 'msg', id: 'save-msg', role: 'status' }));
      form.append(this.backtestControls(rule));
    }
    panel.append(form);
    panel.append(h('section', { id: 'bt-result', class: 'bt-result', 'aria-live': 'polite' }));
    panel.append(this.historyTable(rule));
    form.addEventListener('input', (event) => {
      this.markChanged();
      const param = event.target.closest('.param');
      if (param) {
        param.classList.remove('invalid');
        param.querySelector('.field-error').textContent = '';
      }
      const msg = $('#save-msg');
      if (msg && msg.classList.contains('error')) { msg.textContent = ''; msg.className = 'msg'; }
    });
    this.markChanged();
  }

  paramRow(name, value, saved, readonly) {
    const kind = paramKind(value);
    const id = `p-${name}`;
    const locked = readonly || this.protected.has(name);
    let input;
    if (kind === 'bool') {
      input = h('input', { type: 'checkbox', id, checked: value, disabled: locked });
    } else if (kind === 'number') {
      input = h('input', { type: 'number', step: 'any', id, value: String(value), readonly: locked, inputmode: 'decimal' });
    } else {
      input = h('input', { type: 'text', id, value: kind === 'text' ? value : JSON.stringify(value), readonly: locked, spellcheck: 'false' });
    }
    input.dataset.kind = kind;
    input.dataset.name = name;
    input.dataset.saved = JSON.stringify(saved ?? null);
    return h('div', { class: 'param', dataset: { name } },
      h('label', { for: id, class: 'p-name mono' }, breakable(name)),
      input,
      h('span', { class: 'p-saved muted mono' }, `saved: ${valueText(saved)}`),
      this.protected.has(name) ? h('span', { class: 'p-note muted' }, 'set by an operator in config/rules.yaml') : null,
      h('p', { class: 'field-error', id: `e-${name}`, role: 'alert' }));
  }

  /** The form's values: {fields, params, errors}. */
  readForm() {
    const params = {};
    const errors = {};
    for (const input of document.querySelectorAll('.param input')) {
      const { name, kind } = input.dataset;
      if (kind === 'bool') params[name] = input.checked;
      else if (kind === 'number') {
        if (input.value.trim() === '' || !Number.isFinite(Number(input.value))) errors[name] = 'a number is expected';
        else params[name] = Number(input.value);
      } else if (kind === 'text') params[name] = input.value;
      else {
        try { params[name] = JSON.parse(input.value); } catch { errors[name] = 'not valid JSON'; }
      }
    }
    const fields = {
      enabled: $('#f-enabled').checked,
      tlp: $('#f-tlp').value,
      severity: $('#f-severity').value || null,
    };
    return { fields, params, errors };
  }

  markChanged() {
    for (const input of document.querySelectorAll('.param input')) {
      const saved = JSON.parse(input.dataset.saved);
      const { kind } = input.dataset;
      let value;
      if (kind === 'bool') value = input.checked;
      else if (kind === 'number') value = Number(input.value);
      else if (kind === 'text') value = input.value;
      else { try { value = JSON.parse(input.value); } catch { value = undefined; } }
      input.closest('.param').classList.toggle('changed', !same(value, saved));
    }
  }

  showErrors(errors) {
    for (const node of document.querySelectorAll('.field-error')) node.textContent = '';
    for (const node of document.querySelectorAll('.param.invalid')) node.classList.remove('invalid');
    const general = [];
    for (const { loc, msg } of errors) {
      const parts = loc.filter((p) => p !== 'body');
      // ["params", name, ...] (saving) or ["rules", rule, name, ...] (backtest)
      const name = parts[0] === 'params' ? parts[1] : parts[0] === 'rules' ? parts[2] : null;
      const slot = name !== null && name !== undefined ? $(`#e-${CSS.escape(String(name))}`) : null;
      if (slot) {
        slot.textContent = `${msg}${parts.length > 3 ? ` (${parts.slice(3).join('.')})` : ''}`;
        slot.closest('.param').classList.add('invalid');
      } else {
        general.push(`${parts.join('.') || 'rule'}: ${msg}`);
      }
    }
    const meta = $('#e-meta');
    if (meta) meta.textContent = general.join('; ');
    const first = document.querySelector('.param.invalid input');
    if (first) first.focus();
  }

  async save() {
    const rule = this.rule(this.selected);
    const msg = $('#save-msg');
    msg.className = 'msg';
    const { fields, params, errors } = this.readForm();
    const local = Object.entries(errors).map(([name, text]) => ({ loc: ['params', name], msg: text }));
    const comment = $('#f-comment').value.trim();
    if (!comment) local.push({ loc: ['comment'], msg: 'say why you change the rule' });
    this.showErrors(local);
    if (local.length) { msg.className = 'msg error'; msg.textContent = 'Not saved: see the marked fields.'; return; }
    const button = $('#wb-save');
    button.disabled = true;
    try {
      const saved = await send(this.api, 'PUT', `/v1/rules/${rule.id}`, { ...fields, params, comment },
        { 'If-Match': `"${rule.active_version}"` });
      await this.load(rule.id);
      const after = $('#save-msg');
      after.className = 'msg';
      after.textContent = `Saved as version ${saved.active_version}. Detection runs it once an operator deploys the exported rules.`;
    } catch (error) {
      msg.className = 'msg error';
      if (error.status === 422 && error.problem?.errors) {
        this.showErrors(error.problem.errors);
        msg.textContent = 'Not saved: the rule does not validate (see the marked fields).';
      } else if (error.status === 412) {
        msg.textContent = `Not saved: someone saved version ${error.problem?.current_version} meanwhile. Reload the rule and apply your change again.`;
        msg.append(' ', h('button', { type: 'button', class: 'btn small', onclick: () => this.load(rule.id) }, 'Reload'));
      } else if (error.status === 409) {
        msg.textContent = 'Nothing to save: this is the active version.';
      } else {
        msg.textContent = `Not saved: ${error.message}`;
      }
    } finally {
      button.disabled = false;
    }
  }

  // -- backtests -------------------------------------------------------------------------------

  backtestControls(rule) {
    const files = this.files.map((f) => h('option', { value: f.name }, `${f.name} (${(f.size / 1e6).toFixed(1)} MB${f.folder === 'bundled' ? ', bundled sample' : ''})`));
    return h('fieldset', { class: 'backtest' }, h('legend', {}, 'Backtest on recorded data'),
      h('div', { class: 'bt-controls' },
        h('label', {}, h('span', { class: 'field-label' }, 'Recorded file'),
          files.length ? h('select', { id: 'bt-data' }, files) : h('span', { class: 'muted' }, 'No recorded files configured.')),
        h('label', {}, h('span', { class: 'field-label' }, 'Against'),
          h('select', { id: 'bt-baseline' },
            h('option', { value: 'active' }, `the saved rules (${typeLabel(rule.id)} v${rule.active_version})`),
            h('option', { value: 'deployed' }, `what detection runs (config/rules.yaml${rule.deployed_version ? `, v${rule.deployed_version}` : ''})`))),
        h('button', { type: 'button', class: 'btn primary', id: 'wb-backtest', disabled: !files.length, onclick: () => this.backtestEdit() }, 'Backtest this edit')),
      h('p', { class: 'muted small-note' }, 'Runs the whole pipeline over the file twice (one backtest at a time). Parameters are backtested as edited; a change of Enabled is backtested once saved.'));
  }

  async backtestEdit() {
    const rule = this.rule(this.selected);
    const { params, errors } = this.readForm();
    const local = Object.entries(errors).map(([name, text]) => ({ loc: ['params', name], msg: text }));
    this.showErrors(local);
    if (local.length) return;
    const baseline = $('#bt-baseline').value;
    const changed = Object.fromEntries(Object.entries(params).filter(([name, value]) => !same(value, rule.active.params[name])));
    const body = { data: $('#bt-data').value, baseline };
    if (Object.keys(changed).length) body.rules = { [rule.id]: changed };
    await this.startBacktest(body);
  }

  async backtestVersion(version) {
    const rule = this.rule(this.selected);
    const data = $('#bt-data');
    if (!data) return;
    await this.startBacktest({ data: data.value, versions: { [rule.id]: version }, baseline: 'active' });
  }

  async startBacktest(body) {
    const box = clear($('#bt-result'));
    box.append(h('p', { class: 'muted', id: 'bt-status' }, 'Starting the backtest…'));
    try {
      const job = await send(this.api, 'POST', '/v1/backtest', body);
      this.follow(job.id);
    } catch (error) {
      if (error.status === 422 && error.problem?.errors) this.showErrors(error.problem.errors);
      clear(box).append(h('p', { class: 'msg error', id: 'bt-status' }, `Backtest not started: ${error.message}`));
    }
  }

  follow(jobId) {
    if (this.polling) clearTimeout(this.polling);
    const started = Date.now();
    const tick = async () => {
      let job;
      try {
        job = await this.api.get(`/v1/backtest/${jobId}`);
      } catch (error) {
        clear($('#bt-result')).append(h('p', { class: 'msg error', id: 'bt-status' }, `Backtest lost: ${error.message}`));
        return;
      }
      if (!$('#bt-result')) return; // another rule was opened
      if (FINAL.has(job.status)) {
        this.polling = null;
        this.renderJob(job);
        $('#bt-result').scrollIntoView({ block: 'start' });
        return;
      }
      const seconds = Math.round((Date.now() - started) / 1000);
      const box = clear($('#bt-result'));
      box.append(h('p', { id: 'bt-status', class: 'bt-running' },
        job.status === 'queued' ? `Waiting (${job.queue_position ? `position ${job.queue_position}` : 'queued'})…` : `Running the pipeline twice on ${job.data}… ${seconds} s`,
        ' ', h('button', { type: 'button', class: 'btn small', onclick: () => this.api.request('DELETE', `/v1/backtest/${jobId}`).catch(() => {}) }, 'Cancel')));
      this.polling = setTimeout(tick, POLL_MS);
    };
    tick();
  }

  renderJob(job) {
    const box = clear($('#bt-result'));
    if (job.status !== 'done') {
      box.append(h('p', { class: 'msg error', id: 'bt-status' }, `Backtest ${job.status}: ${job.error || ''}`));
      return;
    }
    const r = job.result;
    const seconds = (Date.parse(job.finished_at) - Date.parse(job.started_at)) / 1000;
    box.append(h('h2', { id: 'bt-status', dataset: { status: 'done' } }, `Backtest on ${r.data.name}`,
      h('span', { class: 'muted' }, ` · ${seconds.toFixed(0)} s · ${r.baseline.run.vessels ?? '—'} vessels, ${r.baseline.run.lines ?? '—'} lines`)));
    box.append(h('ul', { class: 'changes' }, r.changes.map((c) => h('li', {},
      h('strong', {}, typeLabel(c.rule)), ` v${c.from_version ?? '—'} → v${c.to_version}${c.saved ? '' : ' (unsaved edit)'}: `,
      [...Object.entries(c.params), ...Object.entries(c.fields)].map(([name, [a, b]]) => h('span', { class: 'mono chg' }, `${name} ${valueText(a)} → ${valueText(b)}`))))));
    const silent = notRunning(r);
    if (silent.length) {
      box.append(h('p', { class: 'msg warn', id: 'bt-not-running' },
        'Did not run, so raised nothing here: ', silent.join('; '), '.'));
    }

    const pct = (p) => (p.precision === null ? '—' : `${Math.round(p.precision * 100)}%`);
    box.append(h('div', { class: 'tiles' },
      tile(r.baseline.alerts, `alerts, ${r.baseline.label === 'deployed' ? 'deployed' : 'saved'} rules`),
      tile(r.proposed.alerts, 'alerts, proposed', 'total'),
      h('div', { class: 'tile gained', id: 'bt-gained-count' }, h('span', { class: 'n' }, r.gained_total ? `+${r.gained_total}` : '0'), h('span', { class: 'k' }, 'gained')),
      h('div', { class: 'tile lost', id: 'bt-lost-count' }, h('span', { class: 'n' }, r.lost_total ? `−${r.lost_total}` : '0'), h('span', { class: 'k' }, 'lost')),
      tile(r.changed_total, 'changed start'),
      h('div', { class: 'tile outcome', id: 'bt-precision' },
        h('span', { class: 'n' }, `${pct(r.baseline.precision)} → ${pct(r.proposed.precision)}`),
        h('span', { class: 'k' }, `precision (${r.baseline.precision.reviewed} → ${r.proposed.precision.reviewed} reviewed)`))));
    box.append(h('p', { class: 'muted small-note' },
      "Precision: alerts officers closed as rescued or interdicted, over those plus false alarms, among the alerts with the same id in the store. Alerts nobody reviewed (most gained ones) don't count."));

    const types = Object.entries(r.by_type);
    box.append(h('table', { class: 'bt-types' },
      h('thead', {}, h('tr', {}, ['Type', 'Saved', 'Proposed', 'Gained', 'Lost', 'Changed'].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, types.map(([type, n]) => h('tr', { class: n.gained || n.lost ? 'diff' : '' },
        h('th', { scope: 'row' }, typeLabel(type)),
        h('td', {}, String(n.baseline)), h('td', {}, String(n.proposed)),
        h('td', { class: n.gained ? 'plus' : '' }, n.gained ? `+${n.gained}` : '0'),
        h('td', { class: n.lost ? 'minus' : '' }, n.lost ? `−${n.lost}` : '0'),
        h('td', {}, String(n.changed)))))));

    box.append(this.alertList('Gained: raised only by the proposed rules', r.gained, r.gained_total, 'bt-gained'));
    box.append(this.alertList('Lost: raised only by the saved rules', r.lost, r.lost_total, 'bt-lost'));
    if (r.changed_total) {
      box.append(this.alertList('Changed: the same episode, starting at another time', r.changed.map((p) => p.proposed), r.changed_total, 'bt-changed'));
    }
  }

  alertList(title, alerts, total, id) {
    const items = alerts.map((a) => h('li', { class: `bt-alert sev-${a.severity || 'info'}` },
      h('div', { class: 'a-line1' },
        h('span', { class: 'a-type' }, typeLabel(a.type)),
        a.outcome ? h('span', { class: `outcome-badge ${a.outcome}` }, OUTCOMES[a.outcome] || a.outcome) : null,
        h('span', { class: 'a-time' }, fmtFull(a.start))),
      h('div', { class: 'a-vessel' }, a.vessel || 'Unnamed vessel', h('span', { class: 'muted mono' }, ` MMSI ${a.mmsis.join(', ')}`),
        a.rule ? h('span', { class: 'muted mono' }, ` · rule v${a.rule.version}`) : null),
      h('ul', { class: 'reasons' }, a.reasons.map((text) => h('li', {}, text)))));
    return h('section', { class: 'bt-list', id },
      h('h3', {}, `${title} (${total})`),
      total > alerts.length ? h('p', { class: 'muted' }, `The first ${alerts.length} are listed.`) : null,
      items.length ? h('ol', {}, items) : h('p', { class: 'muted' }, 'None.'));
  }

  // -- versions --------------------------------------------------------------------------------

  historyTable(rule) {
    const rows = rule.history.map((v) => h('tr', { class: v.version === rule.active_version ? 'active' : '' },
      h('td', { class: 'mono' }, `v${v.version}`,
        v.version === rule.active_version ? h('span', { class: 'tag' }, 'active') : null,
        v.version === rule.deployed_version ? h('span', { class: 'tag dep' }, 'deployed') : null),
      h('td', { class: 'mono' }, fmtFull(v.created_at)),
      h('td', {}, v.origin === 'config' ? 'config/rules.yaml' : v.author.agency, v.author.key_id ? h('span', { class: 'muted mono' }, ` key ${v.author.key_id}`) : null),
      h('td', { class: 'comment-cell' }, v.comment),
      h('td', { class: 'actions-cell' },
        this.analyst ? h('button', { type: 'button', class: 'btn small', onclick: () => this.loadVersion(rule.id, v.version) }, 'Load into editor') : null,
        this.analyst && v.version !== rule.active_version && this.files.length
          ? h('button', { type: 'button', class: 'btn small', onclick: () => this.backtestVersion(v.version) }, `Backtest against v${rule.active_version}`) : null)));
    return h('section', { class: 'history' },
      h('h2', {}, 'Versions'),
      h('table', { id: 'history' },
        h('thead', {}, h('tr', {}, ['Version', 'Saved (UTC)', 'By', 'Why', ''].map((c) => h('th', { scope: 'col' }, c)))),
        h('tbody', {}, rows)));
  }

  async loadVersion(id, version) {
    const shown = await this.api.get(`/v1/rules/${id}/versions/${version}`);
    const rule = this.rule(id);
    if (version === rule.active_version) { this.select(id); return; }
    this.select(id, shown);
  }

  async exportRules() {
    const response = await fetch('/v1/rules/export', { headers: this.api.headers({ Accept: 'application/yaml' }), cache: 'no-store' });
    if (!response.ok) return;
    const link = h('a', { href: URL.createObjectURL(await response.blob()), download: 'rules.yaml' });
    document.body.append(link);
    link.click();
    link.remove();
  }
}

start();
