// Trends: alerts by week, type and zone for the signed-in agency (GET /v1/trends), as a
// stacked bar chart and the tables behind it. Shares the map's sign-in (this tab's key).

import { Api } from './api.js';
import { $, clear, h, OUTCOMES, SEVERITIES, SEVERITY_COLOUR, typeLabel } from './dom.js';

const KEY_STORAGE = 'lookout.apiKey';
const SVG = 'http://www.w3.org/2000/svg';
const TYPE_COLOURS = {
  distress: '#ff3d3d', migrant_risk: '#ff9326', encounter: '#ffd60a', coastal_approach: '#f26df9',
  drifting: '#4fb3ff', loitering: '#5ad16a', ais_gap: '#b58cff', zone_entry: '#36d6d6',
  identity_anomaly: '#ffb3b3', position_jump: '#c9e265', speed_anomaly: '#8fa3ff', route_anomaly: '#e0c48a',
};

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}

function isoDay(date) {
  return date.toISOString().slice(0, 10);
}

async function main() {
  const key = sessionStorage.getItem(KEY_STORAGE);
  const message = $('#t-message');
  if (!key) {
    clear(message).append('Sign in on the ', h('a', { href: '/' }, 'map'), ' first: trends show what your agency may see.');
    return;
  }
  const api = new Api(key, { onUnauthorized: () => { sessionStorage.removeItem(KEY_STORAGE); window.location.href = '/'; } });
  const session = await api.get('/v1/me');
  $('#who').hidden = false;
  $('#who-name').textContent = session.name;
  $('#who-agency').textContent = session.agency;
  $('#who-roles').textContent = session.roles.join(' · ');

  const weeks = $('#t-weeks');
  const end = $('#t-end');
  const params = () => ({ weeks: weeks.value, end: end.value || null });
  let adjusted = false;
  const load = async () => {
    message.textContent = 'Loading…';
    try {
      const trends = await api.get('/v1/trends', params());
      if (!trends.total && trends.latest && !end.value && !adjusted) {
        adjusted = true; // replayed or old data: start at the weeks that have alerts
        end.value = trends.latest.slice(0, 10);
        return load();
      }
      render(trends);
    } catch (error) {
      message.textContent = `Trends not loaded: ${error.message}`;
    }
    return null;
  };
  weeks.onchange = load;
  end.onchange = load;
  $('#t-csv').onclick = async () => {
    const response = await fetch(api.url('/v1/trends', params()), { headers: api.headers({ Accept: 'text/csv' }) });
    const blob = await response.blob();
    const name = /filename="([^"]+)"/.exec(response.headers.get('Content-Disposition') || '')?.[1] || 'lookout-trends.csv';
    const link = h('a', { href: URL.createObjectURL(blob), download: name });
    document.body.append(link);
    link.click();
    link.remove();
  };
  await load();
}

function render(trends) {
  const root = clear($('#trends'));
  const first = trends.weeks[0].start;
  const last = trends.weeks[trends.weeks.length - 1];
  root.append(h('h1', {}, `Alerts by week, ${trends.weeks[0].week} to ${last.week}`,
    h('span', { class: 'muted range' }, ` (${first} to ${trends.end}, by episode start, UTC)`)));
  root.append(h('p', { id: 't-message', class: 'muted', role: 'status' },
    trends.total ? '' : `No alerts you may see started in these weeks.${trends.latest ? ` The newest started ${trends.latest.slice(0, 10)}.` : ''}`));

  const severityTiles = SEVERITIES.filter((s) => trends.by_severity[s]).map((s) => {
    const tile = h('div', { class: 'tile' }, h('span', { class: 'n' }, String(trends.by_severity[s])), h('span', { class: 'k' }, s));
    tile.style.borderTopColor = SEVERITY_COLOUR[s];
    return tile;
  });
  const outcomeTiles = Object.entries(OUTCOMES).filter(([o]) => trends.outcomes[o]).map(([o, label]) =>
    h('div', { class: 'tile outcome' }, h('span', { class: 'n' }, String(trends.outcomes[o])), h('span', { class: 'k' }, label)));
  root.append(h('section', { class: 'tiles', 'aria-label': 'Totals' },
    h('div', { class: 'tile total' }, h('span', { class: 'n', id: 't-total' }, String(trends.total)), h('span', { class: 'k' }, 'alerts')),
    ...severityTiles,
    h('div', { class: 'tile' }, h('span', { class: 'n' }, String(trends.by_status.closed || 0)), h('span', { class: 'k' }, 'closed')),
    ...outcomeTiles));

  if (trends.total) root.append(chart(trends));
  root.append(table('Alert types', 'Type', trends.weeks, trends.by_type.map((row) => ({
    label: typeLabel(row.type), colour: TYPE_COLOURS[row.type], count: row.count, weeks: row.weeks,
  })), trends.by_week, 't-types'));
  root.append(table('Zones', 'Zone', trends.weeks, trends.by_area.slice(0, 25).map((row) => ({
    label: row.name, count: row.count, weeks: row.weeks,
  })), null, 't-areas', 'An alert counts once in each zone it is in; the 25 zones with most alerts.'));
}

function chart(trends) {
  const width = Math.max(640, trends.weeks.length * 70);
  const height = 300;
  const left = 48;
  const bottom = 44;
  const top = 26;
  const max = Math.max(1, ...trends.by_week);
  const step = niceStep(max);
  const scale = (height - top - bottom) / (Math.ceil(max / step) * step);
  const band = (width - left - 10) / trends.weeks.length;
  const bar = Math.min(46, band * 0.7);
  const plot = svg('svg', { viewBox: `0 0 ${width} ${height}`, class: 'chart', role: 'img', 'aria-labelledby': 'chart-title' },
    svg('title', { id: 'chart-title' }, `Alerts per week by type, ${trends.total} in all`));
  for (let v = 0; v <= max + step / 2; v += step) {
    const y = height - bottom - v * scale;
    plot.append(svg('line', { x1: left, x2: width - 10, y1: y, y2: y, class: 'grid' }));
    plot.append(svg('text', { x: left - 8, y: y + 4, class: 'axis', 'text-anchor': 'end' }, v));
  }
  trends.weeks.forEach((week, i) => {
    const x = left + i * band + (band - bar) / 2;
    let y = height - bottom;
    for (const row of trends.by_type) {
      const n = row.weeks[i];
      if (!n) continue;
      const h2 = n * scale;
      y -= h2;
      plot.append(svg('rect', { x, y, width: bar, height: h2, fill: TYPE_COLOURS[row.type] || '#aab6c3' },
        svg('title', {}, `${week.week}: ${n} ${typeLabel(row.type)}`)));
    }
    if (trends.by_week[i]) plot.append(svg('text', { x: x + bar / 2, y: y - 4, class: 'total', 'text-anchor': 'middle' }, trends.by_week[i]));
    plot.append(svg('text', { x: x + bar / 2, y: height - bottom + 18, class: 'axis', 'text-anchor': 'middle' }, week.week.slice(5)));
    plot.append(svg('text', { x: x + bar / 2, y: height - bottom + 34, class: 'axis small', 'text-anchor': 'middle' }, week.start.slice(5)));
  });
  const legend = h('ul', { class: 'chart-legend' }, trends.by_type.map((row) => {
    const swatch = h('span', { class: 'swatch-box', 'aria-hidden': 'true' });
    swatch.style.backgroundColor = TYPE_COLOURS[row.type] || '#aab6c3';
    return h('li', {}, swatch, `${typeLabel(row.type)} (${row.count})`);
  }));
  return h('section', { class: 'chart-box', 'aria-label': 'Alerts per week by type' }, plot, legend);
}

function niceStep(max) {
  const raw = max / 5;
  const magnitude = 10 ** Math.floor(Math.log10(Math.max(raw, 1)));
  return [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) || magnitude;
}

function table(title, head, weeks, rows, totals, id, note) {
  const body = rows.length
    ? rows.map((row) => {
      const label = h('th', { scope: 'row' });
      if (row.colour) {
        const swatch = h('span', { class: 'swatch-box', 'aria-hidden': 'true' });
        swatch.style.backgroundColor = row.colour;
        label.append(swatch);
      }
      label.append(row.label);
      return h('tr', {}, label, weeks.map((_, i) => h('td', { class: row.weeks[i] ? '' : 'zero' }, String(row.weeks[i]))),
        h('td', { class: 'sum' }, String(row.count)));
    })
    : [h('tr', {}, h('td', { colspan: weeks.length + 2, class: 'muted' }, 'None.'))];
  const foot = totals
    ? h('tfoot', {}, h('tr', {}, h('th', { scope: 'row' }, 'All'), totals.map((n) => h('td', {}, String(n))),
      h('td', { class: 'sum' }, String(totals.reduce((a, b) => a + b, 0)))))
    : null;
  return h('section', { class: 'table-box' },
    h('h2', {}, title),
    note ? h('p', { class: 'muted' }, note) : null,
    h('div', { class: 'scroll' },
      h('table', { id },
        h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, head),
          weeks.map((w) => h('th', { scope: 'col', title: `week of ${w.start}` }, w.week.slice(5))),
          h('th', { scope: 'col' }, 'Total'))),
        h('tbody', {}, body),
        foot)));
}

main();
