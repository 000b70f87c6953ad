// One alert in full: the vessel, the episode, the reasons; on the map the vessel's track, the
// alert's evidence and its position; for officers, acknowledge, note and close with an outcome.

import { ApiError } from './api.js';
import { statusText } from './alerts.js';
import {
  beaconName, clear, fmtDuration, fmtFull, fmtNumber, fmtPosition, fmtTime, h, OUTCOMES, SEVERITY_COLOUR,
  shipTypeText, toMs, typeLabel,
} from './dom.js';

const L = window.L;
const HOUR = 3_600_000;
const TRACK_BEFORE_MS = 6 * HOUR;
const TRACK_AFTER_MS = 1 * HOUR;
const MAX_WINDOW_MS = 30 * 24 * HOUR;
const TICK_MS = 10 * 60_000;
const TRACK_COLOURS = ['#bff0ff', '#ffffff', '#ffd28a', '#d3b3ff'];

const TLP_TEXT = {
  CLEAR: 'Disclosure is not limited.',
  GREEN: 'Limited disclosure: within your community, not public.',
  AMBER: 'Limited disclosure: your organisation and its clients, need to know.',
  'AMBER+STRICT': 'Limited disclosure: your organisation only.',
  RED: 'For the eyes and ears of individual recipients only.',
};

export class Detail {
  constructor({ panel, api, map, book, zones, vessels, session, onClose, announce }) {
    this.panel = panel;
    this.api = api;
    this.map = map;
    this.book = book;
    this.zones = zones;
    this.vessels = vessels;
    this.session = session;
    this.onClose = onClose;
    this.announce = announce;
    this.id = null;
    this.overlay = L.featureGroup([], { pane: 'tracks' }).addTo(map);
    this.selection = L.featureGroup([], { pane: 'selection' }).addTo(map);
    this.svg = L.svg({ pane: 'tracks' });
    this.trackInfo = null;
    this.notes = null;
    this.message = null;
    this.busy = false;
    this.generation = 0;
    this.draft = '';
    this.outcome = null;
  }

  get isOfficer() {
    return this.session.roles.includes('officer');
  }

  get isStaff() {
    return this.session.roles.some((r) => r === 'officer' || r === 'analyst' || r === 'admin');
  }

  async show(id) {
    const generation = ++this.generation;
    this.id = id;
    this.trackInfo = { state: 'loading' };
    this.notes = null;
    this.message = null;
    this.draft = '';
    this.outcome = null;
    this.clearMap();
    this.panel.hidden = false;
    this.map.getContainer().parentElement.classList.add('detail-open');
    this.render();
    this.panel.focus({ preventScroll: true });
    let alert = this.book.get(id);
    try {
      alert = await this.api.get(`/v1/alerts/${encodeURIComponent(id)}`);
      this.book.apply(alert, true);
    } catch (error) {
      if (generation !== this.generation) return;
      if (!alert) {
        this.message = { error: true, text: error instanceof ApiError && error.status === 404 ? 'This alert is not available to your agency.' : `Could not load the alert: ${error.message}` };
        this.render();
        return;
      }
    }
    if (generation !== this.generation) return;
    this.drawAlert(alert);
    this.render();
    await Promise.all([this.loadTracks(alert, generation), this.loadNotes(generation)]);
  }

  showTrackOnly(mmsi) {
    this.hide();
    const latest = this.vessels.point(mmsi);
    const end = toMs(latest?.ts) ?? Date.now();
    this.fetchTrack(mmsi, end - TRACK_BEFORE_MS, end + 60_000).then((track) => {
      if (!track) return;
      const layer = this.drawTrack(track, TRACK_COLOURS[0], true);
      this.map.fitBounds(layer.getBounds().pad(0.2), { maxZoom: 10 });
    }).catch((error) => this.announce(`No track: ${error.message}`));
  }

  hide() {
    this.generation += 1;
    this.id = null;
    this.panel.hidden = true;
    this.map.getContainer().parentElement.classList.remove('detail-open');
    this.clearMap();
    this.onClose();
  }

  clearMap() {
    this.overlay.clearLayers();
    this.selection.clearLayers();
  }

  drawAlert(alert) {
    this.selection.clearLayers();
    const colour = SEVERITY_COLOUR[alert.severity];
    if (alert.evidence && alert.evidence.type) {
      L.geoJSON(alert.evidence, { pane: 'selection', renderer: L.svg({ pane: 'selection' }), interactive: false,
        style: { color: '#000000', weight: 9, opacity: 0.55, lineCap: 'round' } }).addTo(this.selection);
      L.geoJSON(alert.evidence, { pane: 'selection', renderer: L.svg({ pane: 'selection' }), interactive: false,
        style: { color: colour, weight: 5, dashArray: '10 7', lineCap: 'round', className: 'evidence-line' } }).addTo(this.selection);
    }
    L.circleMarker([alert.lat, alert.lon], {
      pane: 'selection', radius: 19, color: '#ffffff', weight: 3, fill: false, interactive: false,
      className: 'selected-ring',
    }).addTo(this.selection);
    this.fit();
  }

  fit() {
    const bounds = L.latLngBounds([]);
    for (const group of [this.selection, this.overlay]) {
      const b = group.getBounds();
      if (b.isValid()) bounds.extend(b);
    }
    if (!bounds.isValid()) return;
    const panelWidth = this.panel.hidden ? 0 : this.panel.offsetWidth;
    this.map.flyToBounds(bounds.pad(0.15), {
      paddingTopLeft: [60, 40], paddingBottomRight: [panelWidth + 40, 40], maxZoom: 8, duration: 0.6,
    });
  }

  async fetchTrack(mmsi, startMs, endMs) {
    const start = new Date(Math.max(startMs, endMs - MAX_WINDOW_MS)).toISOString();
    const end = new Date(endMs).toISOString();
    try {
      return await this.api.get(`/v1/vessels/${mmsi}/track`, { start, end }, { accept: 'application/geo+json' });
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) return null;
      throw error;
    }
  }

  async loadTracks(alert, generation) {
    const mmsis = (alert.mmsis && alert.mmsis.length ? alert.mmsis : [alert.mmsi]).slice(0, 4);
    const startMs = toMs(alert.start) - TRACK_BEFORE_MS;
    const latest = Math.max(...mmsis.map((m) => toMs(this.vessels.point(m)?.ts) || 0));
    const endMs = Math.max(toMs(alert.end) || toMs(alert.detected_at) || 0, latest) + TRACK_AFTER_MS;
    try {
      const tracks = await Promise.all(mmsis.map((m) => this.fetchTrack(m, startMs, endMs)));
      if (generation !== this.generation) return;
      let fixes = 0;
      let first = null;
      let last = null;
      tracks.forEach((track, i) => {
        if (!track) return;
        this.drawTrack(track, TRACK_COLOURS[i % TRACK_COLOURS.length], i === 0);
        for (const f of track.features) {
          if (f.geometry.type !== 'Point') continue;
          fixes += 1;
          const ts = toMs(f.properties.ts);
          if (first === null || ts < first) first = ts;
          if (last === null || ts > last) last = ts;
        }
      });
      this.trackInfo = fixes ? { state: 'shown', fixes, first, last, vessels: tracks.filter(Boolean).length } : { state: 'none' };
      this.map.getContainer().dataset.track = fixes ? 'shown' : 'none';
    } catch (error) {
      if (generation !== this.generation) return;
      this.trackInfo = { state: 'error', text: error.message };
    }
    this.render();
    this.fit();
  }

  drawTrack(track, colour, labelled) {
    const group = L.featureGroup([], { pane: 'tracks' });
    const lines = track.features.filter((f) => f.geometry.type === 'LineString');
    const fixes = track.features.filter((f) => f.geometry.type === 'Point');
    L.geoJSON({ type: 'FeatureCollection', features: lines }, {
      pane: 'tracks', renderer: this.svg, interactive: false,
      style: { color: colour, weight: 3, opacity: 1, className: 'track-line' },
    }).addTo(group);
    let lastTick = null; // a dot every 10 minutes of track (and the last fix): readable time marks
    fixes.forEach((f, i) => {
      const ts = toMs(f.properties.ts);
      if (lastTick !== null && ts - lastTick < TICK_MS && i !== fixes.length - 1) return;
      lastTick = ts;
      const [lon, lat] = f.geometry.coordinates;
      const p = f.properties;
      L.circleMarker([lat, lon], {
        pane: 'tracks', renderer: this.svg, radius: 4, weight: 1.5, color: '#0a1722', fillColor: colour,
        fillOpacity: 1, className: 'track-fix',
      }).bindTooltip(() => h('div', {}, h('strong', {}, fmtFull(p.ts)),
        h('div', {}, `${fmtNumber(p.sog, 1, ' kn')} · ${fmtNumber(p.cog, 0, '°')}`)), { className: 'vessel-tip' }).addTo(group);
    });
    if (labelled && fixes.length) {
      const tag = (f, text) => L.marker([f.geometry.coordinates[1], f.geometry.coordinates[0]], {
        pane: 'tracks', interactive: false, keyboard: false,
        icon: L.divIcon({ className: 'track-label', html: `<span>${text}</span>`, iconSize: null }),
      }).addTo(group);
      tag(fixes[0], fmtTime(fixes[0].properties.ts));
      tag(fixes[fixes.length - 1], fmtTime(fixes[fixes.length - 1].properties.ts));
    }
    group.addTo(this.overlay);
    return group;
  }

  async loadNotes(generation) {
    if (!this.isStaff || !this.id) return;
    try {
      const notes = await this.api.get(`/v1/alerts/${encodeURIComponent(this.id)}/notes`);
      if (generation !== this.generation) return;
      this.notes = notes.data;
    } catch {
      this.notes = null;
    }
    this.render();
  }

  /** The alert changed (stream or action): refresh the panel, keep the map as it is. */
  refresh(alert) {
    if (alert && alert.id === this.id && this.keyOf(alert) !== this.renderedKey) this.render();
  }

  keyOf(alert) {
    return alert ? `${alert.revision}|${alert.status}|${alert.outcome}` : '';
  }

  async act(label, request) {
    if (this.busy) return;
    this.busy = true;
    this.message = { error: false, text: `${label}…` };
    this.render();
    try {
      const result = await request();
      if (result && result.id) this.book.apply(result, true);
      this.message = { error: false, text: `${label}: done.` };
      this.announce(`${label}: done.`);
      this.draft = '';
      this.outcome = null;
      await this.loadNotes(this.generation);
    } catch (error) {
      this.message = { error: true, text: `${label} failed: ${error.message}` };
    } finally {
      this.busy = false;
      this.render();
    }
  }

  acknowledge() {
    const id = this.id;
    this.act('Acknowledge', () => this.api.post(`/v1/alerts/${encodeURIComponent(id)}/ack`, {}));
  }

  addNote() {
    const id = this.id;
    const text = this.draft.trim();
    if (!text) { this.message = { error: true, text: 'Write the note first.' }; this.render(); return; }
    this.act('Note', () => this.api.post(`/v1/alerts/${encodeURIComponent(id)}/notes`, { text }));
  }

  close() {
    const id = this.id;
    if (!this.outcome) { this.message = { error: true, text: 'Choose an outcome first.' }; this.render(); return; }
    const body = { outcome: this.outcome };
    if (this.draft.trim()) body.note = this.draft.trim();
    this.act(`Close (${OUTCOMES[this.outcome]})`, () => this.api.post(`/v1/alerts/${encodeURIComponent(id)}/close`, body));
  }

  render() {
    const panel = this.panel;
    const focusedId = document.activeElement && panel.contains(document.activeElement) ? document.activeElement.id : null;
    clear(panel);
    const alert = this.id ? this.book.get(this.id) : null;
    this.renderedKey = this.keyOf(alert);
    const closeButton = h('button', { type: 'button', class: 'icon-btn', id: 'detail-close', 'aria-label': 'Close the alert panel', onclick: () => this.hide() }, '✕');
    if (!alert) {
      panel.append(h('header', { class: 'detail-head' }, h('h2', { id: 'detail-title' }, 'Alert'), closeButton),
        this.message ? h('p', { class: `msg${this.message.error ? ' error' : ''}`, role: 'alert' }, this.message.text) : h('p', {}, 'Loading…'));
      return;
    }
    const vessel = alert.vessel || {};
    const start = toMs(alert.start);
    const end = toMs(alert.end);
    const row = (label, value, attrs = {}) => [h('dt', {}, label), h('dd', attrs, value)];
    panel.dataset.alertId = alert.id;
    panel.append(
      h('header', { class: `detail-head sev-${alert.severity}` },
        h('div', {},
          h('span', { class: `sev-badge sev-${alert.severity}` }, alert.severity.toUpperCase()),
          h('h2', { id: 'detail-title' }, typeLabel(alert.type))),
        closeButton),
      h('div', { class: `tlp tlp-${alert.tlp.replace('+', '-').toLowerCase()}`, title: TLP_TEXT[alert.tlp] || '' },
        h('span', { class: 'tlp-label' }, `TLP:${alert.tlp}`), h('span', {}, TLP_TEXT[alert.tlp] || '')),
      h('p', { class: `status-line st-${alert.status}`, id: 'detail-status' }, `Status: ${statusText(alert)}`),
      h('section', { 'aria-labelledby': 'reasons-h' },
        h('h3', { id: 'reasons-h' }, 'Why'),
        h('ul', { class: 'reasons', id: 'detail-reasons' }, (alert.reasons || []).map((r) => h('li', {}, r)))),
      h('section', { 'aria-labelledby': 'vessel-h' },
        h('h3', { id: 'vessel-h' }, 'Vessel'),
        h('dl', { class: 'facts' },
          row('Name', vessel.name || beaconName(alert.mmsi) || 'Not reported'),
          row('MMSI', (alert.mmsis && alert.mmsis.length > 1 ? alert.mmsis : [alert.mmsi]).join(', ')),
          row('Call sign', vessel.callsign || '—'),
          row('IMO', vessel.imo ? String(vessel.imo) : '—'),
          row('Flag', vessel.flag || '—'),
          row('Type', shipTypeText(vessel.ship_type)))),
      h('section', { 'aria-labelledby': 'episode-h' },
        h('h3', { id: 'episode-h' }, 'Episode'),
        h('dl', { class: 'facts' },
          row('Position', fmtPosition(alert.lat, alert.lon)),
          row('Started', fmtFull(alert.start)),
          row('Ended', end ? `${fmtFull(alert.end)} (${fmtDuration(end - start)})` : 'Ongoing'),
          row('Detected', fmtFull(alert.detected_at)),
          row('Score', `${Math.round((alert.score || 0) * 100)} / 100`),
          row('Areas', (alert.areas || []).length ? this.zones.sorted(alert.areas).map((a) => this.zones.name(a)).join('; ') : '—'),
          row('Rule', `${alert.rule?.id || '—'} v${alert.rule?.version ?? '—'}${alert.model_version ? ` · model ${alert.model_version}` : ''}`),
          row('Track', this.trackText(), { id: 'detail-track' }),
          row('Alert id', alert.id, { class: 'mono' }))),
      this.actions(alert),
      ...[this.notesSection()].filter(Boolean),
    );
    const again = focusedId && document.getElementById(focusedId);
    if (again) {
      again.focus({ preventScroll: true });
      if (again.tagName === 'TEXTAREA') again.selectionStart = again.selectionEnd = again.value.length;
    }
  }

  trackText() {
    const t = this.trackInfo;
    if (!t || t.state === 'loading') return 'Loading…';
    if (t.state === 'none') return 'No track in your areas for this period';
    if (t.state === 'error') return `Not loaded: ${t.text}`;
    const who = t.vessels > 1 ? ` (${t.vessels} vessels)` : '';
    return `${t.fixes} fixes, ${fmtTime(t.first)} – ${fmtTime(t.last)}${who}`;
  }

  actions(alert) {
    const message = this.message
      ? h('p', { class: `msg${this.message.error ? ' error' : ''}`, role: this.message.error ? 'alert' : 'status', id: 'detail-message' }, this.message.text)
      : h('p', { class: 'msg', role: 'status', id: 'detail-message' });
    if (!this.isOfficer) {
      return h('section', { class: 'actions' }, message,
        h('p', { class: 'muted' }, 'Read only: acknowledging and closing alerts needs the officer role.'));
    }
    const closed = alert.status === 'closed';
    const note = h('textarea', {
      id: 'note-text', rows: 3, maxlength: 4000, placeholder: 'What was done, who was told…',
      oninput: (e) => { this.draft = e.target.value; },
    });
    note.value = this.draft;
    const outcomes = Object.entries(OUTCOMES).map(([value, label]) => h('label', { class: 'radio' },
      h('input', {
        type: 'radio', name: 'outcome', value, id: `outcome-${value}`, checked: this.outcome === value,
        onchange: () => { this.outcome = value; },
      }), label));
    return h('section', { class: 'actions', 'aria-labelledby': 'actions-h' },
      h('h3', { id: 'actions-h' }, 'Action'),
      h('button', {
        type: 'button', class: 'btn primary', id: 'ack-btn', disabled: alert.status !== 'open' || this.busy,
        onclick: () => this.acknowledge(),
      }, alert.status === 'open' ? 'Acknowledge' : 'Acknowledged'),
      h('label', { for: 'note-text', class: 'field-label' }, 'Note'),
      note,
      h('button', { type: 'button', class: 'btn', id: 'note-btn', disabled: this.busy, onclick: () => this.addNote() }, 'Add note'),
      h('fieldset', { class: 'outcomes', disabled: closed || this.busy },
        h('legend', {}, closed ? `Closed: ${OUTCOMES[alert.outcome] || alert.outcome}` : 'Close with outcome'),
        h('div', { class: 'radios' }, outcomes),
        h('button', { type: 'button', class: 'btn danger', id: 'close-btn', onclick: () => this.close() }, 'Close alert')),
      message);
  }

  notesSection() {
    if (!this.isStaff) return null;
    const notes = this.notes || [];
    return h('section', { 'aria-labelledby': 'notes-h' },
      h('h3', { id: 'notes-h' }, `Notes (${notes.length})`),
      notes.length
        ? h('ol', { class: 'notes', id: 'detail-notes' }, notes.map((n) => h('li', {},
          h('div', { class: 'note-meta' }, `${fmtFull(n.at)} · ${n.agency}`), h('div', {}, n.text))))
        : h('p', { class: 'muted' }, 'No notes yet.'));
  }
}
