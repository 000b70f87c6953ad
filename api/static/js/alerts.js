// Alerts: the book (every alert the agency may see, latest version of each, kept current from the
// cursor feed and the event stream) and the view (filters, the list, the markers).

import {
  beaconName, fmtPosition, fmtTime, h, clear, SEVERITIES, SEVERITY_COLOUR, SEVERITY_RANK, STATUS_ORDER, toMs,
  typeLabel, OUTCOMES,
} from './dom.js';

const L = window.L;
const PAGE = 1000;
const LIST_LIMIT = 400;
const RETRY_MS = 3000;

const sleep = (ms, signal) => new Promise((resolve) => {
  const timer = setTimeout(resolve, ms);
  signal?.addEventListener('abort', () => { clearTimeout(timer); resolve(); }, { once: true });
});

export class AlertBook extends EventTarget {
  constructor(api) {
    super();
    this.api = api;
    this.byId = new Map();
    this.cursor = null;
    this.state = 'connecting';
    this.controller = new AbortController();
  }

  /** Everything visible so far, page by page from the start of the feed. */
  async load() {
    let after = null;
    for (;;) {
      const page = await this.api.get('/v1/alerts', { limit: PAGE, after }, { signal: this.controller.signal });
      for (const alert of page.data) this.apply(alert, false);
      after = page.next;
      if (!page.data.length) break;
    }
    this.cursor = after;
    this.emit('change', { alert: null, fresh: false });
  }

  /** Follow the event stream from the cursor; reconnect (resuming exactly) when it drops. */
  async live() {
    const { signal } = this.controller;
    while (!signal.aborted) {
      try {
        await this.api.stream('/v1/alerts/stream', { after: this.cursor }, {
          signal,
          onOpen: () => this.setState('live'),
          onEvent: (event) => {
            if (event.event !== 'alert') return;
            if (event.id) this.cursor = event.id;
            this.apply(JSON.parse(event.data), true);
          },
        });
      } catch (error) {
        if (signal.aborted) return;
        if (error.status === 401) { this.setState('signed-out'); return; }
      }
      if (signal.aborted) return;
      this.setState('reconnecting');
      await sleep(RETRY_MS, signal);
    }
  }

  stop() {
    this.controller.abort();
  }

  apply(alert, fresh) {
    const before = this.byId.get(alert.id);
    this.byId.set(alert.id, alert);
    if (fresh) this.emit('change', { alert, fresh: !before, before });
  }

  get(id) {
    return this.byId.get(id) || null;
  }

  forVessel(mmsi) {
    return [...this.byId.values()].filter((a) => a.mmsi === mmsi || (a.mmsis || []).includes(mmsi));
  }

  setState(state) {
    if (this.state === state) return;
    this.state = state;
    this.emit('state', { state });
  }

  emit(name, detail) {
    this.dispatchEvent(new CustomEvent(name, { detail }));
  }
}

export function sortAlerts(alerts) {
  return alerts.sort((a, b) =>
    (STATUS_ORDER[a.status] ?? 9) - (STATUS_ORDER[b.status] ?? 9)
    || SEVERITY_RANK[b.severity] - SEVERITY_RANK[a.severity]
    || (toMs(b.detected_at) || 0) - (toMs(a.detected_at) || 0)
    || a.id.localeCompare(b.id));
}

export function statusText(alert) {
  if (alert.status === 'closed') return `Closed: ${OUTCOMES[alert.outcome] || alert.outcome || '—'}`;
  if (alert.status === 'acknowledged') return 'Acknowledged';
  return 'Open';
}

export class AlertView {
  constructor({ book, map, zones, list, count, more, onSelect }) {
    this.book = book;
    this.map = map;
    this.zones = zones;
    this.list = list;
    this.count = count;
    this.more = more;
    this.onSelect = onSelect;
    this.filters = { severities: new Set(SEVERITIES), types: null, area: '', status: 'active' };
    this.items = new Map(); // id -> {li, key}
    this.markers = new Map(); // id -> {marker, key}
    this.layer = L.featureGroup([], { pane: 'alerts' }).addTo(map);
    this.renderer = L.svg({ pane: 'alerts' });
    this.selected = null;
    this.flash = new Set();
    this.pending = false;
  }

  setFilters(changes) {
    Object.assign(this.filters, changes);
    this.render();
  }

  matches(alert) {
    const f = this.filters;
    if (!f.severities.has(alert.severity)) return false;
    if (f.types && !f.types.has(alert.type)) return false;
    if (f.status === 'active' && alert.status === 'closed') return false;
    if (f.status !== 'active' && f.status !== 'all' && alert.status !== f.status) return false;
    if (f.area && !(alert.areas || []).includes(f.area) && !this.zones.contains(f.area, alert.lon, alert.lat)) return false;
    return true;
  }

  /** Coalesce bursts of changes into one render per frame. */
  schedule() {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => { this.pending = false; this.render(); });
  }

  render() {
    const shown = sortAlerts([...this.book.byId.values()].filter((a) => this.matches(a)));
    this.renderList(shown.slice(0, LIST_LIMIT));
    this.renderMarkers(shown);
    this.count.textContent = `${shown.length} shown`;
    if (shown.length > LIST_LIMIT) {
      this.more.hidden = false;
      this.more.textContent = `${shown.length - LIST_LIMIT} more on the map: narrow the filters to list them.`;
    } else {
      this.more.hidden = true;
    }
    if (!shown.length) {
      clear(this.list).appendChild(h('li', { class: 'empty' },
        this.book.byId.size ? 'No alert matches the filters.' : 'No alerts for your agency yet.'));
      this.items.clear();
    }
  }

  itemKey(alert) {
    return `${alert.revision}|${alert.status}|${alert.outcome}|${this.selected === alert.id}|${this.flash.has(alert.id)}`;
  }

  renderList(alerts) {
    const focused = document.activeElement?.closest?.('[data-alert-id]')?.dataset.alertId;
    const wanted = new Set(alerts.map((a) => a.id));
    for (const [id, item] of this.items) if (!wanted.has(id)) { item.li.remove(); this.items.delete(id); }
    const empty = this.list.querySelector('.empty');
    if (empty) empty.remove();
    let previous = null;
    for (const alert of alerts) {
      const key = this.itemKey(alert);
      let item = this.items.get(alert.id);
      if (!item || item.key !== key) {
        const li = this.listItem(alert);
        if (item) item.li.replaceWith(li);
        item = { li, key };
        this.items.set(alert.id, item);
      }
      const expected = previous ? previous.nextSibling : this.list.firstChild;
      if (expected !== item.li) this.list.insertBefore(item.li, expected);
      previous = item.li;
    }
    if (focused && this.items.has(focused) && document.activeElement === document.body) {
      this.items.get(focused).li.querySelector('button').focus({ preventScroll: true });
    }
  }

  listItem(alert) {
    const vessel = alert.vessel || {};
    const where = (alert.areas || []).length ? this.zones.name(this.zones.primary(alert.areas)) : fmtPosition(alert.lat, alert.lon);
    const classes = ['alert-item', `sev-${alert.severity}`, `st-${alert.status}`];
    if (this.flash.has(alert.id)) classes.push('flash');
    return h('li', { class: classes.join(' '), dataset: { alertId: alert.id } },
      h('button', {
        type: 'button',
        class: 'alert-btn',
        'aria-current': this.selected === alert.id ? 'true' : null,
        onclick: () => this.onSelect(alert.id),
      },
      h('span', { class: 'a-line1' },
        h('span', { class: `sev-badge sev-${alert.severity}` }, alert.severity.toUpperCase()),
        h('span', { class: 'a-type' }, typeLabel(alert.type)),
        h('time', { class: 'a-time', datetime: alert.detected_at }, fmtTime(alert.detected_at))),
      h('span', { class: 'a-vessel' }, `${vessel.name || beaconName(alert.mmsi) || 'Unnamed'} · ${alert.mmsi}${vessel.flag ? ` · ${vessel.flag}` : ''}`),
      h('span', { class: 'a-meta' },
        h('span', { class: 'a-where' }, where),
        h('span', { class: `a-status st-${alert.status}` }, statusText(alert)))));
  }

  renderMarkers(alerts) {
    const wanted = new Set();
    const ordered = [...alerts].reverse(); // least urgent first, so the most urgent is drawn on top
    for (const alert of ordered) {
      wanted.add(alert.id);
      const key = `${alert.revision}|${alert.status}|${alert.lat}|${alert.lon}`;
      const existing = this.markers.get(alert.id);
      if (existing && existing.key === key) { existing.marker.bringToFront(); continue; }
      if (existing) existing.marker.remove();
      const active = alert.status !== 'closed';
      const radius = { critical: 11, high: 9.5, medium: 8, low: 7, info: 6 }[alert.severity] || 7;
      const marker = L.circleMarker([alert.lat, alert.lon], {
        pane: 'alerts',
        renderer: this.renderer,
        radius,
        color: alert.status === 'open' ? '#ffffff' : '#c8d2dc',
        weight: alert.status === 'open' ? 2.5 : 2,
        dashArray: alert.status === 'acknowledged' ? '4 3' : null,
        fillColor: SEVERITY_COLOUR[alert.severity],
        fillOpacity: alert.status === 'open' ? 0.95 : active ? 0.45 : 0.2,
        className: `alert-marker sev-${alert.severity} st-${alert.status}${alert.severity === 'critical' && alert.status === 'open' ? ' pulse' : ''}`,
      });
      marker.bindTooltip(() => h('div', {},
        h('strong', {}, `${alert.severity.toUpperCase()} · ${typeLabel(alert.type)}`),
        h('div', {}, `${alert.vessel?.name || 'Unnamed'} · ${alert.mmsi}`)), { direction: 'top', offset: [0, -radius], className: 'vessel-tip' });
      marker.on('click', () => this.onSelect(alert.id));
      marker.addTo(this.layer);
      this.markers.set(alert.id, { marker, key });
    }
    for (const [id, { marker }] of this.markers) {
      if (!wanted.has(id)) { marker.remove(); this.markers.delete(id); }
    }
  }

  select(id) {
    this.selected = id;
    this.render();
    const item = id && this.items.get(id);
    if (item) item.li.scrollIntoView({ block: 'nearest' });
  }

  flashFor(id, ms = 6000) {
    this.flash.add(id);
    setTimeout(() => { this.flash.delete(id); this.schedule(); }, ms);
  }

  /** Counts by severity of the active (not closed) alerts, whatever the filters. */
  activeCounts() {
    const counts = Object.fromEntries(SEVERITIES.map((s) => [s, 0]));
    for (const alert of this.book.byId.values()) if (alert.status !== 'closed') counts[alert.severity] += 1;
    return counts;
  }
}
