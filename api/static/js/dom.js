// Small DOM and formatting helpers. Every text that came from data (vessel names, reasons,
// notes, zone names) goes into the page as a text node, never as HTML: an AIS ship name is
// chosen by whoever transmits it.

export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === 'class') node.className = value;
    else if (name === 'dataset') Object.assign(node.dataset, value);
    else if (name.startsWith('on') && typeof value === 'function') {
      node.addEventListener(name.slice(2), value);
    } else if (value === true) node.setAttribute(name, '');
    else node.setAttribute(name, String(value));
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(node, child);
    else if (child instanceof Node) node.appendChild(child);
    else node.appendChild(document.createTextNode(String(child)));
  }
}

export function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
  return node;
}

export const $ = (selector, root = document) => root.querySelector(selector);

// -- alerts ------------------------------------------------------------------------------------

export const SEVERITIES = ['critical', 'high', 'medium', 'low', 'info'];
export const SEVERITY_RANK = { info: 0, low: 1, medium: 2, high: 3, critical: 4 };
export const SEVERITY_COLOUR = {
  critical: '#ff3d3d',
  high: '#ff9326',
  medium: '#ffd60a',
  low: '#4fb3ff',
  info: '#aab6c3',
};

export const ALERT_TYPES = {
  distress: 'Distress',
  migrant_risk: 'Migrant risk',
  encounter: 'Encounter at sea',
  coastal_approach: 'Coastal approach',
  drifting: 'Drifting',
  loitering: 'Loitering',
  ais_gap: 'AIS gap',
  zone_entry: 'Zone entry',
  identity_anomaly: 'Identity anomaly',
  position_jump: 'Position jump',
  speed_anomaly: 'Speed anomaly',
  route_anomaly: 'Route anomaly',
};

export const OUTCOMES = {
  rescued: 'Rescued',
  interdicted: 'Interdicted',
  no_action: 'No action',
  false_alarm: 'False alarm',
};

export const STATUS_ORDER = { open: 0, acknowledged: 1, closed: 2 };

export const typeLabel = (type) => ALERT_TYPES[type] || type;

// -- vessels -----------------------------------------------------------------------------------

export const VESSEL_CLASSES = [
  // id, label, colour
  ['cargo', 'Cargo', '#5ad16a'],
  ['tanker', 'Tanker', '#b58cff'],
  ['passenger', 'Passenger', '#4fa8ff'],
  ['fishing', 'Fishing', '#ffa23a'],
  ['service', 'Tug, pilot, service', '#36d6d6'],
  ['government', 'Law enf., SAR, military', '#f4f4f4'],
  ['pleasure', 'Pleasure, sailing', '#ff7ec4'],
  ['highspeed', 'High-speed craft', '#ffe14d'],
  ['other', 'Other, unknown', '#9aa6b2'],
];
export const VESSEL_COLOUR = Object.fromEntries(VESSEL_CLASSES.map(([id, , c]) => [id, c]));
export const VESSEL_LABEL = Object.fromEntries(VESSEL_CLASSES.map(([id, l]) => [id, l]));

const BEACONS = new Set(['sart', 'mob', 'epirb']);

export function vesselClass(p) {
  if (BEACONS.has(p.mmsi_class)) return 'distress';
  const t = p.ship_type;
  if (t === null || t === undefined) return 'other';
  if (t === 30) return 'fishing';
  if (t >= 70 && t <= 79) return 'cargo';
  if (t >= 80 && t <= 89) return 'tanker';
  if (t >= 60 && t <= 69) return 'passenger';
  if (t >= 40 && t <= 49) return 'highspeed';
  if (t === 36 || t === 37) return 'pleasure';
  if (t === 35 || t === 51 || t === 55) return 'government';
  if ((t >= 31 && t <= 34) || (t >= 50 && t <= 59)) return 'service';
  return 'other';
}

const SHIP_TYPES = {
  30: 'Fishing', 31: 'Towing', 32: 'Towing (large)', 33: 'Dredging, underwater ops',
  34: 'Diving ops', 35: 'Military ops', 36: 'Sailing', 37: 'Pleasure craft', 50: 'Pilot',
  51: 'Search and rescue', 52: 'Tug', 53: 'Port tender', 54: 'Anti-pollution',
  55: 'Law enforcement', 58: 'Medical transport', 59: 'Non-combatant',
};

/** Distress beacons have their own MMSI series: 970 AIS-SART, 972 man overboard, 974 EPIRB. */
export function beaconName(mmsi) {
  const prefix = Math.floor(Number(mmsi) / 1_000_000);
  return { 970: 'AIS-SART', 972: 'MOB beacon', 974: 'EPIRB' }[prefix] || null;
}

export function shipTypeText(t) {
  if (t === null || t === undefined || t === 0) return 'Not reported';
  if (SHIP_TYPES[t]) return `${SHIP_TYPES[t]} (${t})`;
  const ranges = [
    [20, 29, 'Wing in ground'], [40, 49, 'High-speed craft'], [60, 69, 'Passenger'],
    [70, 79, 'Cargo'], [80, 89, 'Tanker'], [90, 99, 'Other'],
  ];
  for (const [lo, hi, name] of ranges) if (t >= lo && t <= hi) return `${name} (${t})`;
  return `Type ${t}`;
}

const NAV_STATUS = [
  'Under way using engine', 'At anchor', 'Not under command', 'Restricted manoeuvrability',
  'Constrained by draught', 'Moored', 'Aground', 'Engaged in fishing', 'Under way sailing',
  null, null, 'Towing astern', 'Pushing ahead', null, 'AIS-SART / MOB / EPIRB active',
];

export const navStatusText = (n) => (n === null || n === undefined ? '—' : NAV_STATUS[n] || `Status ${n}`);

// -- numbers, times, places --------------------------------------------------------------------

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const pad = (n, w = 2) => String(n).padStart(w, '0');

export function toMs(value) {
  if (value === null || value === undefined) return null;
  const ms = typeof value === 'number' ? value : Date.parse(value);
  return Number.isFinite(ms) ? ms : null;
}

/** "01 May 02:31Z" (UTC: the watch floor's time). */
export function fmtTime(value) {
  const ms = toMs(value);
  if (ms === null) return '—';
  const d = new Date(ms);
  return `${pad(d.getUTCDate())} ${MONTHS[d.getUTCMonth()]} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}Z`;
}

/** "2024-05-01 02:31:07Z" */
export function fmtFull(value) {
  const ms = toMs(value);
  if (ms === null) return '—';
  return new Date(ms).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

export function fmtClock(date) {
  return `${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())}`;
}

/** Degrees and decimal minutes, as charts and radios give them: 12°34.5′N 097°12.3′E. */
export function fmtPosition(lat, lon) {
  if (lat === null || lon === null || lat === undefined || lon === undefined) return '—';
  const part = (value, width, pos, neg) => {
    const abs = Math.abs(value);
    let deg = Math.floor(abs);
    let min = Math.round((abs - deg) * 600) / 10;
    if (min >= 60) { deg += 1; min = 0; }
    return `${pad(deg, width)}°${min.toFixed(1).padStart(4, '0')}′${value < 0 ? neg : pos}`;
  };
  return `${part(lat, 2, 'N', 'S')} ${part(lon, 3, 'E', 'W')}`;
}

export function fmtNumber(value, digits = 1, unit = '') {
  if (value === null || value === undefined || !Number.isFinite(value)) return '—';
  return `${value.toFixed(digits)}${unit}`;
}

export function fmtDuration(ms) {
  if (ms === null || ms < 0) return '—';
  const minutes = Math.round(ms / 60000);
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours} h ${pad(minutes % 60)} min`;
  return `${Math.round(hours / 24)} days`;
}
