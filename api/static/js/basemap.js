// The offline base map: sea as the background, Natural Earth land (1:50m, world-atlas TopoJSON
// decoded with topojson-client), a graticule, a few place names, the pointer's position and a
// scale in nautical miles. No tiles, nothing from outside this server.

import { fmtPosition } from './dom.js';

const L = window.L;
const LAND_URL = '/static/vendor/world-atlas-2.0.2/land-50m.json';

export const HOME = L.latLngBounds([3.0, 79.5], [23.5, 100.5]); // Bay of Bengal, Andaman Sea

const PLACES = [
  // name, lat, lon, kind (sea | land)
  ['BAY OF BENGAL', 15.2, 87.6, 'sea'],
  ['ANDAMAN SEA', 11.8, 96.4, 'sea'],
  ['STRAIT OF\nMALACCA', 5.0, 99.2, 'sea'],
  ['LACCADIVE SEA', 8.2, 76.2, 'sea'],
  ['INDIA', 20.5, 80.5, 'land'],
  ['BANGLADESH', 24.0, 90.2, 'land'],
  ['MYANMAR', 21.3, 95.6, 'land'],
  ['THAILAND', 15.6, 101.0, 'land'],
  ['MALAYSIA', 3.8, 102.9, 'land'],
  ['SUMATRA', 0.6, 101.4, 'land'],
  ['SRI LANKA', 7.7, 80.7, 'land'],
  ['Andaman Is.', 12.6, 93.5, 'island'],
  ['Nicobar Is.', 8.1, 94.2, 'island'],
];

export function createMap(element) {
  const map = L.map(element, {
    zoomControl: false,
    attributionControl: true,
    worldCopyJump: false,
    minZoom: 3,
    maxZoom: 13,
    zoomSnap: 0.5,
    preferCanvas: false,
  });
  map.attributionControl.setPrefix(false);
  map.attributionControl.addAttribution('Land: Natural Earth · Leaflet');
  L.control.zoom({ position: 'topleft' }).addTo(map);
  const panes = [
    ['graticule', 250], ['land', 300], ['zones', 350], ['labels', 380], ['tracks', 420],
    ['vessels', 450], ['alerts', 520], ['selection', 540],
  ];
  for (const [name, z] of panes) {
    const pane = map.createPane(name);
    pane.style.zIndex = String(z);
    if (name === 'graticule' || name === 'labels') pane.style.pointerEvents = 'none';
  }
  map.fitBounds(HOME);
  addLand(map);
  addGraticule(map);
  addPlaces(map);
  addPointerPosition(map);
  new NauticalScale({ position: 'bottomright' }).addTo(map);
  return map;
}

async function addLand(map) {
  try {
    const response = await fetch(LAND_URL);
    const topology = await response.json();
    const land = window.topojson.feature(topology, topology.objects.land);
    L.geoJSON(land, {
      pane: 'land',
      interactive: false,
      style: { color: '#a4b6c6', weight: 1, fillColor: '#323f4b', fillOpacity: 1 },
      renderer: L.svg({ pane: 'land', padding: 0.5 }),
    }).addTo(map);
    map.getContainer().dataset.land = 'loaded';
  } catch (error) {
    console.error('land outline not loaded', error);
    map.getContainer().dataset.land = 'failed';
  }
}

function graticuleStep(zoom) {
  if (zoom < 4.5) return 10;
  if (zoom < 6.5) return 5;
  if (zoom < 8.5) return 1;
  if (zoom < 10.5) return 0.5;
  return 1 / 6;
}

function addGraticule(map) {
  const lines = L.layerGroup([], { pane: 'graticule' }).addTo(map);
  const labels = L.layerGroup([], { pane: 'labels' }).addTo(map);
  const renderer = L.svg({ pane: 'graticule' });
  const draw = () => {
    lines.clearLayers();
    labels.clearLayers();
    const step = graticuleStep(map.getZoom());
    const b = map.getBounds();
    const south = Math.max(-80, Math.floor(b.getSouth() / step) * step);
    const north = Math.min(80, Math.ceil(b.getNorth() / step) * step);
    const west = Math.floor(b.getWest() / step) * step;
    const east = Math.ceil(b.getEast() / step) * step;
    const style = { pane: 'graticule', renderer, interactive: false, color: '#3d5c75', weight: 1, opacity: 0.7 };
    const edge = map.containerPointToLatLng([0, map.getSize().y]);
    const corner = map.containerPointToLatLng([52, 0]); // right of the zoom buttons
    const label = (text, latlng, cls) =>
      L.marker(latlng, {
        pane: 'labels',
        interactive: false,
        keyboard: false,
        icon: L.divIcon({ className: `grat-label ${cls}`, html: `<span>${text}</span>`, iconSize: null }),
      }).addTo(labels);
    for (let lon = west; lon <= east + 1e-9; lon += step) {
      L.polyline([[south, lon], [north, lon]], style).addTo(lines);
      label(degrees(lon, 'E', 'W', step), [edge.lat, lon], 'lon');
    }
    for (let lat = south; lat <= north + 1e-9; lat += step) {
      L.polyline([[lat, west], [lat, east]], style).addTo(lines);
      label(degrees(lat, 'N', 'S', step), [lat, corner.lng], 'lat');
    }
  };
  map.on('moveend zoomend resize', draw);
  draw();
}

function degrees(value, pos, neg, step) {
  const abs = Math.abs(value);
  const deg = Math.floor(abs + 1e-9);
  const min = Math.round((abs - deg) * 60);
  const hemisphere = Math.abs(value) < 1e-9 ? '' : value < 0 ? neg : pos;
  return step < 1 ? `${deg}°${String(min).padStart(2, '0')}′${hemisphere}` : `${deg}°${hemisphere}`;
}

function addPlaces(map) {
  const group = L.layerGroup([], { pane: 'labels' }).addTo(map);
  for (const [name, lat, lon, kind] of PLACES) {
    L.marker([lat, lon], {
      pane: 'labels',
      interactive: false,
      keyboard: false,
      icon: L.divIcon({ className: `place-label ${kind}`, html: `<span>${name}</span>`, iconSize: null }),
    }).addTo(group);
  }
  const toggle = () => map.getContainer().classList.toggle('zoomed-in', map.getZoom() >= 9);
  map.on('zoomend', toggle);
  toggle();
}

function addPointerPosition(map) {
  const box = document.getElementById('coords');
  if (!box) return;
  map.on('mousemove', (e) => { box.textContent = fmtPosition(e.latlng.lat, e.latlng.lng); });
  map.on('mouseout', () => { box.textContent = ''; });
}

const NauticalScale = L.Control.extend({
  onAdd(map) {
    this._map = map;
    this._box = L.DomUtil.create('div', 'nm-scale');
    this._bar = L.DomUtil.create('div', 'nm-scale-bar', this._box);
    this._text = L.DomUtil.create('div', 'nm-scale-text', this._box);
    map.on('moveend zoomend resize', this._update, this);
    this._update();
    return this._box;
  },
  onRemove(map) {
    map.off('moveend zoomend resize', this._update, this);
  },
  _update() {
    const map = this._map;
    const y = map.getSize().y / 2;
    const metres = map.distance(map.containerPointToLatLng([0, y]), map.containerPointToLatLng([120, y]));
    const nm = metres / 1852;
    const magnitude = 10 ** Math.floor(Math.log10(nm));
    const nice = [5, 2, 1].map((m) => m * magnitude).find((v) => v <= nm) || magnitude;
    this._bar.style.width = `${Math.round((120 * nice) / nm)}px`;
    this._text.textContent = `${nice >= 1 ? nice : nice.toFixed(1)} NM`;
  },
});
