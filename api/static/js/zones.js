// Named zones from /v1/zones (config/zones/*.geojson): drawn by kind, toggled from the legend,
// and used by the area filter (an alert is in a zone when its `areas` names it or its position
// falls inside the outline).

import { h } from './dom.js';

const L = window.L;

export const ZONE_KINDS = [
  // kind, label, style, shown at start
  ['watch_area', 'Watch areas', { color: '#ffc233', weight: 2, dashArray: '8 6', fillOpacity: 0.06 }, true],
  ['departure_area', 'Departure areas', { color: '#ff7a45', weight: 2, dashArray: '3 5', fillOpacity: 0.08 }, true],
  ['destination_coast', 'Destination coasts', { color: '#2fd4c4', weight: 2, dashArray: '3 5', fillOpacity: 0.07 }, true],
  ['port', 'Ports and anchorages', { color: '#c6a8ff', weight: 1.5, fillOpacity: 0.15 }, false],
  ['territorial_sea', 'Territorial seas (12 NM)', { color: '#7f93a8', weight: 1, fillOpacity: 0.05 }, false],
  ['sar_region', 'Search-and-rescue regions', { color: '#8fc6ff', weight: 1.5, dashArray: '2 6', fillOpacity: 0 }, false],
  ['sharing_area', 'Sharing and other areas', { color: '#e8eef4', weight: 1.5, dashArray: '1 5', fillOpacity: 0 }, false],
];
const KIND_OF = { anchorage: 'port' }; // drawn and toggled together
const KIND_LABEL = Object.fromEntries(ZONE_KINDS.map(([kind, label]) => [kind, label]));

export class Zones {
  constructor(map) {
    this.map = map;
    this.byId = new Map();
    this.groups = new Map();
    this.renderer = L.svg({ pane: 'zones' });
  }

  async load(api) {
    const collection = await api.get('/v1/zones', null, { accept: 'application/geo+json' });
    for (const [kind, , style, shown] of ZONE_KINDS) {
      const group = L.featureGroup([], { pane: 'zones' });
      group.options.lookoutStyle = style;
      this.groups.set(kind, group);
      if (shown) group.addTo(this.map);
    }
    for (const feature of collection.features) {
      const { id, name, kind } = feature.properties;
      const drawKind = KIND_OF[kind] || (this.groups.has(kind) ? kind : 'sharing_area');
      const group = this.groups.get(drawKind);
      const layer = L.geoJSON(feature, {
        pane: 'zones',
        renderer: this.renderer,
        style: { ...group.options.lookoutStyle, fillColor: group.options.lookoutStyle.color, className: `zone zone-${drawKind}` },
      });
      layer.bindTooltip(() => h('span', {}, name), { sticky: true, className: 'zone-tip' });
      layer.addTo(group);
      this.byId.set(id, { id, name, kind, drawKind, geometry: feature.geometry, layer });
    }
    return this;
  }

  name(id) {
    return this.byId.get(id)?.name || id;
  }

  /** Of an alert's areas, the one a watch officer thinks in first (a watch area before a
   *  search-and-rescue region before a sharing outline). */
  primary(ids) {
    return this.sorted(ids)[0];
  }

  sorted(ids) {
    const rank = (id) => {
      const zone = this.byId.get(id);
      const order = ZONE_KINDS.findIndex(([kind]) => kind === (zone ? zone.drawKind : ''));
      return order < 0 ? ZONE_KINDS.length : order;
    };
    return [...ids].sort((a, b) => rank(a) - rank(b));
  }

  setShown(kind, shown) {
    const group = this.groups.get(kind);
    if (!group) return;
    if (shown) group.addTo(this.map);
    else group.remove();
  }

  isShown(kind) {
    const group = this.groups.get(kind);
    return Boolean(group && this.map.hasLayer(group));
  }

  bounds(id) {
    const zone = this.byId.get(id);
    return zone ? zone.layer.getBounds() : null;
  }

  contains(id, lon, lat) {
    const zone = this.byId.get(id);
    return Boolean(zone) && geometryContains(zone.geometry, lon, lat);
  }

  /** <option>s for the area filter, grouped by kind. */
  options() {
    const groups = new Map();
    for (const zone of this.byId.values()) {
      const label = KIND_LABEL[zone.drawKind] || zone.drawKind;
      if (!groups.has(label)) groups.set(label, []);
      groups.get(label).push(zone);
    }
    const order = ZONE_KINDS.map(([, label]) => label);
    return [...groups.entries()]
      .sort(([a], [b]) => order.indexOf(a) - order.indexOf(b))
      .map(([label, zones]) =>
        h('optgroup', { label },
          zones.sort((a, b) => a.name.localeCompare(b.name)).map((z) => h('option', { value: z.id }, z.name))));
  }
}

export function geometryContains(geometry, lon, lat) {
  if (!geometry) return false;
  if (geometry.type === 'Polygon') return polygonContains(geometry.coordinates, lon, lat);
  if (geometry.type === 'MultiPolygon') return geometry.coordinates.some((p) => polygonContains(p, lon, lat));
  if (geometry.type === 'GeometryCollection') return geometry.geometries.some((g) => geometryContains(g, lon, lat));
  return false;
}

function polygonContains(rings, lon, lat) {
  if (!rings.length || !ringContains(rings[0], lon, lat)) return false;
  for (let i = 1; i < rings.length; i += 1) if (ringContains(rings[i], lon, lat)) return false;
  return true;
}

function ringContains(ring, x, y) {
  let inside = false;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i, i += 1) {
    const [xi, yi] = ring[i];
    const [xj, yj] = ring[j];
    if ((yi > y) !== (yj > y) && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}
