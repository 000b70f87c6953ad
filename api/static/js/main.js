// The watch officers' map: sign in with an agency key, then vessels, alerts, filters and the
// alert panel. Everything shown comes from the API with that key, so an agency sees exactly
// what its sharing agreement allows.

import { Api } from './api.js';
import { AlertBook, AlertView } from './alerts.js';
import { createMap } from './basemap.js';
import { Detail } from './detail.js';
import {
  $, ALERT_TYPES, clear, fmtClock, fmtFull, h, SEVERITIES, SEVERITY_COLOUR, SEVERITY_RANK,
  typeLabel, VESSEL_CLASSES,
} from './dom.js';
import { VesselLayer } from './vessels.js';
import { ZONE_KINDS, Zones } from './zones.js';

const L = window.L;
const KEY_STORAGE = 'lookout.apiKey';
const PICTURE_EVERY_MS = 3000;
const DETECTION_EVERY_MS = 30_000;
const STAFF = ['officer', 'analyst', 'admin'];

function announce(text) {
  const box = $('#announce');
  box.textContent = '';
  setTimeout(() => { box.textContent = text; }, 50);
}

// -- signing in --------------------------------------------------------------------------------

function showLogin(message) {
  const backdrop = $('#login');
  backdrop.hidden = false;
  document.body.classList.add('signed-out');
  const error = $('#login-error');
  error.textContent = message || '';
  const input = $('#login-key');
  input.focus();
  $('#login-form').onsubmit = async (event) => {
    event.preventDefault();
    const key = input.value.trim();
    if (!key) return;
    error.textContent = '';
    const button = $('#login-form button[type=submit]');
    button.disabled = true;
    try {
      const session = await new Api(key).get('/v1/me');
      sessionStorage.setItem(KEY_STORAGE, key);
      input.value = '';
      backdrop.hidden = true;
      document.body.classList.remove('signed-out');
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
  window.location.hash = '';
  window.location.reload();
}

async function start() {
  const key = sessionStorage.getItem(KEY_STORAGE);
  const message = sessionStorage.getItem('lookout.signOutMessage');
  sessionStorage.removeItem('lookout.signOutMessage');
  if (!key) { showLogin(message); return; }
  try {
    const session = await new Api(key).get('/v1/me');
    run(key, session);
  } catch (e) {
    sessionStorage.removeItem(KEY_STORAGE);
    showLogin(e.status === 401 ? 'Your key is no longer accepted: sign in again.' : `Cannot reach the API: ${e.message}`);
  }
}

// -- the map -----------------------------------------------------------------------------------

async function run(key, session) {
  const api = new Api(key, { onUnauthorized: () => signOut('Your key was refused (expired or revoked): sign in again.') });
  document.body.classList.add('signed-in');
  showWho(session);
  startClock();

  const map = createMap($('#map'));
  const zones = new Zones(map);
  try { await zones.load(api); } catch (error) { console.error('zones not loaded', error); }
  if (session.area) drawAgencyArea(map, session.area);

  const book = new AlertBook(api);
  let detail = null;
  const view = new AlertView({
    book, map, zones,
    list: $('#alert-list'), count: $('#alerts-count'), more: $('#alerts-more'),
    onSelect: (id) => select(id),
  });
  const vessels = new VesselLayer(map, {
    onTrack: (mmsi) => detail.showTrackOnly(mmsi),
    alertsFor: (mmsi) => book.forVessel(mmsi).map((a) => ({ id: a.id, severity: a.severity, label: typeLabel(a.type) })),
    onSelectAlert: (id) => select(id),
  });
  detail = new Detail({
    panel: $('#detail'), api, map, book, zones, vessels, session, announce,
    onClose: () => { view.select(null); if (window.location.hash) history.replaceState(null, '', ' '); },
  });

  function select(id) {
    view.select(id);
    history.replaceState(null, '', `#alert=${encodeURIComponent(id)}`);
    detail.show(id);
  }

  buildFilters(session, view, vessels, zones, map);
  buildLegend(vessels, zones);
  rememberLegend();

  book.addEventListener('change', (event) => {
    const { alert, fresh } = event.detail;
    view.schedule();
    updateCounts(view);
    if (alert) detail.refresh(alert);
    if (alert && fresh && SEVERITY_RANK[alert.severity] >= SEVERITY_RANK.high && alert.status === 'open') {
      view.flashFor(alert.id);
      announce(`New ${alert.severity} alert: ${typeLabel(alert.type)}, ${alert.vessel?.name || alert.mmsi}`);
    }
  });
  book.addEventListener('state', (event) => setConnection(event.detail.state));
  document.addEventListener('keydown', (event) => {
    if (event.key === 'Escape' && !$('#detail').hidden) detail.hide();
  });
  $('#sign-out').onclick = () => { book.stop(); signOut(); };

  pictureLoop(api, vessels);
  if (session.roles.some((role) => STAFF.includes(role))) detectionLoop(api);
  try {
    await book.load();
  } catch (error) {
    setConnection('error');
    announce(`Alerts not loaded: ${error.message}`);
  }
  view.render();
  updateCounts(view);
  const follow = () => {
    const wanted = /^#alert=(.+)$/.exec(window.location.hash);
    if (wanted && decodeURIComponent(wanted[1]) !== detail.id) select(decodeURIComponent(wanted[1]));
  };
  window.addEventListener('hashchange', follow);
  follow();
  book.live();
}

function showWho(session) {
  $('#who').hidden = false;
  $('#who-name').textContent = session.name;
  $('#who-agency').textContent = session.agency;
  $('#who-roles').textContent = session.roles.join(' · ');
  document.body.dataset.agency = session.agency;
  document.body.classList.toggle('officer', session.roles.includes('officer'));
}

function startClock() {
  const clock = $('#clock-utc');
  const tick = () => { clock.textContent = fmtClock(new Date()); };
  tick();
  setInterval(tick, 1000);
}

function setConnection(state) {
  const box = $('#conn');
  const text = { live: 'Live', reconnecting: 'Reconnecting…', connecting: 'Connecting…', error: 'Offline', 'signed-out': 'Signed out' }[state] || state;
  box.textContent = text;
  box.dataset.state = state;
}

function updateCounts(view) {
  const counts = view.activeCounts();
  const box = clear($('#sev-counts'));
  for (const sev of SEVERITIES.slice(0, 3)) {
    box.append(h('span', { class: `count-chip sev-${sev}${counts[sev] ? '' : ' zero'}`, title: `${counts[sev]} ${sev} alerts not closed` },
      h('span', { class: 'n' }, String(counts[sev])), ` ${sev}`));
  }
  for (const sev of SEVERITIES) {
    const n = $(`#sev-filter-${sev} .n`);
    if (n) n.textContent = String(counts[sev]);
  }
}

function pictureLoop(api, vessels) {
  const time = $('#data-time');
  const count = $('#vessel-count');
  let failures = 0;
  const refresh = async () => {
    try {
      const picture = await api.get('/v1/picture', null, { accept: 'application/geo+json' });
      vessels.update(picture);
      failures = 0;
      time.textContent = vessels.latestMs ? fmtFull(vessels.latestMs) : '—';
      time.dateTime = vessels.latestMs ? new Date(vessels.latestMs).toISOString() : '';
      count.textContent = `${vessels.shown} of ${vessels.points.size}`;
      document.body.dataset.vessels = String(vessels.points.size);
      for (const [cls] of VESSEL_CLASSES) {
        const n = $(`#vessel-class-${cls} .n`);
        if (n) n.textContent = String(vessels.counts[cls] || 0);
      }
    } catch (error) {
      failures += 1;
      if (failures === 3) announce(`Vessel positions not updating: ${error.message}`);
    } finally {
      setTimeout(refresh, PICTURE_EVERY_MS);
    }
  };
  refresh();
}

/** Whether every detection rule runs (GET /v1/detectors): a silent detector must not pass
 * for a quiet sea. Staff only; the title lists what needs attention and why. */
function detectionLoop(api) {
  $('#detection').hidden = false;
  const state = $('#detection-state');
  const show = (kind, text, title) => {
    state.dataset.state = kind;
    state.textContent = text;
    state.title = title;
  };
  const refresh = async () => {
    try {
      const report = await api.get('/v1/detectors');
      const rows = report.detectors;
      const running = rows.filter((r) => r.state === 'running' && !r.stale).length;
      if (!rows.length) {
        show('none', 'no report from the detection stage', report.note || 'No detection stage has reported.');
      } else if (report.attention.length) {
        const needing = rows.filter((r) => report.attention.includes(`${r.group}/${r.rule.id}`));
        const why = needing.map((r) => `${typeLabel(r.rule.id)}: ${r.stale ? `no report since ${fmtFull(r.reported_at)}` : r.state}${r.reason ? ` (${r.reason})` : ''}`);
        const names = [...new Set(needing.map((r) => typeLabel(r.rule.id)))];
        show('attention', `not running: ${names.join(', ')}`, why.join('\n'));
      } else {
        const disabled = rows.filter((r) => r.state === 'disabled').length;
        show('ok', `all ${running} rules running`, `Every enabled detection rule is running${disabled ? `; ${disabled} disabled` : ''}.`);
      }
    } catch (error) {
      show('error', 'unknown', `Detector health not read: ${error.message}`);
    } finally {
      setTimeout(refresh, DETECTION_EVERY_MS);
    }
  };
  refresh();
}

function drawAgencyArea(map, geometry) {
  L.geoJSON(geometry, {
    pane: 'zones', interactive: false,
    style: { color: '#ffffff', weight: 2, dashArray: '12 6', fill: false, opacity: 0.85, className: 'agency-area' },
  }).addTo(map);
}

// -- filters and legend ------------------------------------------------------------------------

function buildFilters(session, view, vessels, zones, map) {
  const sevBox = clear($('#sev-filter'));
  for (const sev of SEVERITIES) {
    const button = h('button', {
      type: 'button', class: `sev-toggle sev-${sev}`, id: `sev-filter-${sev}`, 'aria-pressed': 'true',
      onclick: () => {
        const on = button.getAttribute('aria-pressed') !== 'true';
        button.setAttribute('aria-pressed', String(on));
        const severities = new Set(view.filters.severities);
        if (on) severities.add(sev); else severities.delete(sev);
        view.setFilters({ severities });
      },
    }, h('span', { class: 'dot' }), h('span', { class: 'label' }, sev), h('span', { class: 'n' }, '0'));
    button.querySelector('.dot').style.backgroundColor = SEVERITY_COLOUR[sev];
    sevBox.append(button);
  }

  const area = $('#f-area');
  clear(area).append(h('option', { value: '' }, 'All areas'), ...zones.options());
  area.onchange = () => {
    const id = area.value;
    view.setFilters({ area: id });
    vessels.setFilter({ area: id ? zones.byId.get(id)?.geometry : null });
    const bounds = id && zones.bounds(id);
    if (bounds && bounds.isValid()) map.flyToBounds(bounds.pad(0.1), { maxZoom: 10, duration: 0.6 });
  };

  const status = $('#f-status');
  status.onchange = () => view.setFilters({ status: status.value });

  const allowed = new Set(session.alert_types);
  const types = Object.keys(ALERT_TYPES).filter((t) => allowed.has(t) || t === 'distress');
  const typeBox = clear($('#type-filter'));
  const selected = new Set(types);
  const summary = $('#types-summary');
  const sync = () => {
    summary.textContent = selected.size === types.length ? 'all' : `${selected.size} of ${types.length}`;
    view.setFilters({ types: selected.size === types.length ? null : new Set(selected) });
  };
  const boxes = types.map((type) => {
    const input = h('input', { type: 'checkbox', id: `type-${type}`, value: type, checked: true,
      onchange: () => { if (input.checked) selected.add(type); else selected.delete(type); sync(); } });
    typeBox.append(h('label', { class: 'check', for: `type-${type}` }, input, typeLabel(type)));
    return input;
  });
  const setAll = (on) => { boxes.forEach((b) => { b.checked = on; if (on) selected.add(b.value); else selected.delete(b.value); }); sync(); };
  typeBox.append(h('div', { class: 'row' },
    h('button', { type: 'button', class: 'btn small', onclick: () => setAll(true) }, 'All'),
    h('button', { type: 'button', class: 'btn small', onclick: () => setAll(false) }, 'None')));
  sync();
}

/** The legend starts open on a large screen, closed on a small one, then as the user left it. */
function rememberLegend() {
  const legend = $('#legend');
  const saved = localStorage.getItem('lookout.legendOpen');
  legend.open = saved === null ? window.innerWidth >= 1600 && window.innerHeight >= 950 : saved === '1';
  legend.addEventListener('toggle', () => localStorage.setItem('lookout.legendOpen', legend.open ? '1' : '0'));
}

function buildLegend(vessels, zones) {
  const vesselBox = clear($('#legend-vessels'));
  const hidden = new Set();
  for (const [cls, label, colour] of VESSEL_CLASSES) {
    const swatch = h('span', { class: 'swatch tri', 'aria-hidden': 'true' });
    swatch.style.backgroundColor = colour;
    const input = h('input', { type: 'checkbox', checked: true, id: `vessel-toggle-${cls}`,
      onchange: () => { if (input.checked) hidden.delete(cls); else hidden.add(cls); vessels.setFilter({ hiddenClasses: new Set(hidden) }); } });
    vesselBox.append(h('label', { class: 'check legend-row', id: `vessel-class-${cls}`, for: `vessel-toggle-${cls}` },
      input, swatch, h('span', { class: 'label' }, label), h('span', { class: 'n' }, '0')));
  }
  const beacon = h('span', { class: 'swatch beacon', 'aria-hidden': 'true' });
  vesselBox.append(h('div', { class: 'legend-row note' }, beacon, 'Distress beacon (always shown)'));
  vesselBox.append(h('div', { class: 'legend-row note' }, h('span', { class: 'swatch stopped', 'aria-hidden': 'true' }), 'Circle: stopped or no course'));

  const zoneBox = clear($('#legend-zones'));
  for (const [kind, label, style] of ZONE_KINDS) {
    if (!zones.groups.has(kind)) continue;
    const swatch = h('span', { class: 'swatch line', 'aria-hidden': 'true' });
    swatch.style.borderColor = style.color;
    const input = h('input', { type: 'checkbox', id: `zone-toggle-${kind}`, checked: zones.isShown(kind),
      onchange: () => zones.setShown(kind, input.checked) });
    zoneBox.append(h('label', { class: 'check legend-row', for: `zone-toggle-${kind}` }, input, swatch, h('span', { class: 'label' }, label)));
  }
}

start();
