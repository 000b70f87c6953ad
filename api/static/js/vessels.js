// Live vessel positions from /v1/picture, drawn on a canvas (thousands of vessels stay smooth):
// a triangle pointing along the heading (or course over ground) for a vessel under way, a
// circle for one stopped or without a course, a red cross-in-circle for distress beacons
// (AIS-SART, MOB, EPIRB); colour by ship type class.

import {
  fmtFull, fmtNumber, fmtPosition, h, navStatusText, shipTypeText, toMs, VESSEL_COLOUR,
  VESSEL_LABEL, vesselClass,
} from './dom.js';
import { geometryContains } from './zones.js';

const L = window.L;
const MOVING_KNOTS = 0.5;

const VesselMarker = L.CircleMarker.extend({
  options: { radius: 9, weight: 1.25, color: '#04101a', opacity: 1, fillOpacity: 1 },

  _updatePath() {
    const renderer = this._renderer;
    if (!renderer._drawing || this._empty()) return;
    const ctx = renderer._ctx;
    const { x, y } = this._point;
    const { course, shape } = this.options;
    ctx.beginPath();
    if (shape === 'beacon') {
      ctx.arc(x, y, 8, 0, Math.PI * 2);
      renderer._fillStroke(ctx, this);
      ctx.beginPath();
      ctx.moveTo(x - 5, y - 5); ctx.lineTo(x + 5, y + 5);
      ctx.moveTo(x + 5, y - 5); ctx.lineTo(x - 5, y + 5);
      ctx.save();
      ctx.globalAlpha = 1; ctx.lineWidth = 2.5; ctx.strokeStyle = '#ffffff';
      ctx.stroke();
      ctx.restore();
      return;
    }
    if (shape === 'moving') {
      const a = ((course || 0) * Math.PI) / 180;
      const sin = Math.sin(a);
      const cos = Math.cos(a);
      // bow 10 px ahead, stern corners 6 px back and 5.5 px abeam
      const at = (fwd, side) => [x + fwd * sin + side * cos, y - fwd * cos + side * sin];
      const [bx, by] = at(10, 0);
      const [px, py] = at(-6, -5.5);
      const [qx, qy] = at(-3.5, 0);
      const [sx, sy] = at(-6, 5.5);
      ctx.moveTo(bx, by); ctx.lineTo(sx, sy); ctx.lineTo(qx, qy); ctx.lineTo(px, py);
      ctx.closePath();
    } else {
      ctx.arc(x, y, 4.5, 0, Math.PI * 2);
    }
    renderer._fillStroke(ctx, this);
  },
});

export class VesselLayer {
  constructor(map, { onTrack, alertsFor, onSelectAlert }) {
    this.map = map;
    this.onTrack = onTrack;
    this.alertsFor = alertsFor;
    this.onSelectAlert = onSelectAlert;
    this.renderer = L.canvas({ pane: 'vessels', padding: 0.3, tolerance: 4 });
    this.group = L.layerGroup([], { pane: 'vessels' }).addTo(map);
    this.markers = new Map(); // mmsi -> marker
    this.points = new Map(); // mmsi -> feature properties + lat, lon
    this.hiddenClasses = new Set();
    this.area = null; // a GeoJSON geometry, or null
    this.latestMs = null;
    this.counts = {};
  }

  /** Replace the picture with `collection` (a GeoJSON FeatureCollection of latest points). */
  update(collection) {
    const seen = new Set();
    let latest = null;
    for (const feature of collection.features) {
      const [lon, lat] = feature.geometry.coordinates;
      const p = { ...feature.properties, lat, lon, cls: vesselClass(feature.properties) };
      const ts = toMs(p.ts);
      if (ts !== null && (latest === null || ts > latest)) latest = ts;
      seen.add(p.mmsi);
      this.points.set(p.mmsi, p);
    }
    for (const mmsi of [...this.points.keys()]) if (!seen.has(mmsi)) this.points.delete(mmsi);
    this.latestMs = latest;
    this.redraw();
  }

  setFilter({ hiddenClasses, area }) {
    if (hiddenClasses) this.hiddenClasses = hiddenClasses;
    if (area !== undefined) this.area = area;
    this.redraw();
  }

  visible(p) {
    if (p.cls !== 'distress' && this.hiddenClasses.has(p.cls)) return false; // beacons always
    return !this.area || geometryContains(this.area, p.lon, p.lat);
  }

  redraw() {
    const counts = {};
    const shown = new Set();
    for (const p of this.points.values()) {
      counts[p.cls] = (counts[p.cls] || 0) + 1;
      if (!this.visible(p)) continue;
      shown.add(p.mmsi);
      const course = p.heading ?? p.cog;
      const moving = p.sog !== null && p.sog !== undefined && p.sog >= MOVING_KNOTS && course !== null && course !== undefined;
      const shape = p.cls === 'distress' ? 'beacon' : moving ? 'moving' : 'stopped';
      const fill = p.cls === 'distress' ? '#ff2d2d' : VESSEL_COLOUR[p.cls];
      let marker = this.markers.get(p.mmsi);
      if (!marker) {
        marker = new VesselMarker([p.lat, p.lon], { renderer: this.renderer, pane: 'vessels', fillColor: fill, course, shape });
        marker.mmsi = p.mmsi;
        marker.bindTooltip(() => this.tooltip(marker.mmsi), { direction: 'top', offset: [0, -10], className: 'vessel-tip' });
        marker.on('click', () => this.openPopup(marker));
        this.markers.set(p.mmsi, marker);
        marker.addTo(this.group);
      } else {
        const moved = !marker.getLatLng().equals([p.lat, p.lon]);
        const changed = marker.options.course !== course || marker.options.shape !== shape || marker.options.fillColor !== fill;
        marker.options.course = course;
        marker.options.shape = shape;
        marker.options.fillColor = fill;
        if (moved) marker.setLatLng([p.lat, p.lon]);
        else if (changed) marker.redraw();
        if (!this.group.hasLayer(marker)) marker.addTo(this.group);
      }
    }
    for (const [mmsi, marker] of this.markers) {
      if (!shown.has(mmsi)) {
        marker.remove();
        if (!this.points.has(mmsi)) this.markers.delete(mmsi);
      }
    }
    this.counts = counts;
    this.shown = shown.size;
  }

  point(mmsi) {
    return this.points.get(mmsi) || null;
  }

  tooltip(mmsi) {
    const p = this.points.get(mmsi);
    if (!p) return h('span', {}, String(mmsi));
    return h('div', {},
      h('strong', {}, p.name || `MMSI ${p.mmsi}`),
      h('div', {}, `${VESSEL_LABEL[p.cls] || 'Distress beacon'} · ${fmtNumber(p.sog, 1, ' kn')}`));
  }

  openPopup(marker) {
    const p = this.points.get(marker.mmsi);
    if (!p) return;
    const alerts = this.alertsFor(p.mmsi);
    const row = (label, value) => [h('dt', {}, label), h('dd', {}, value)];
    const content = h('div', { class: 'vessel-popup' },
      h('h3', {}, p.name || 'Name not reported'),
      h('dl', {},
        row('MMSI', String(p.mmsi)),
        row('Call sign', p.callsign || '—'),
        row('IMO', p.imo ? String(p.imo) : '—'),
        row('Flag', p.flag || '—'),
        row('Type', shipTypeText(p.ship_type)),
        row('Status', navStatusText(p.nav_status)),
        row('Speed', fmtNumber(p.sog, 1, ' kn')),
        row('Course', fmtNumber(p.cog, 0, '°')),
        row('Heading', p.heading === null || p.heading === undefined ? '—' : `${p.heading}°`),
        row('Destination', p.destination || '—'),
        row('Position', fmtPosition(p.lat, p.lon)),
        row('Last report', fmtFull(p.ts))),
      alerts.length
        ? h('div', { class: 'popup-alerts' }, h('h4', {}, 'Alerts about this vessel'),
          h('ul', {}, alerts.map((a) => h('li', {}, h('button', {
            type: 'button', class: `link sev-text-${a.severity}`,
            onclick: () => { marker.closePopup(); this.onSelectAlert(a.id); },
          }, `${a.severity.toUpperCase()} · ${a.label}`)))))
        : null,
      h('button', { type: 'button', class: 'btn', onclick: () => { marker.closePopup(); this.onTrack(p.mmsi); } },
        'Show last 6 h of track'));
    marker.unbindPopup();
    marker.bindPopup(content, { maxWidth: 360, className: 'dark-popup' }).openPopup();
  }
}
