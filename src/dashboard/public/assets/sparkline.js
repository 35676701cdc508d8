// Inline SVG sparklines of per-minute request counts (no chart library).

const SVG_NS = 'http://www.w3.org/2000/svg';
const WIDTH = 100;
const HEIGHT = 28;
const PAD = 2;

function svgElement(tag, attributes) {
  const element = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, String(value));
  return element;
}

/**
 * @param {{ start: string, requests: number }[]} points oldest first, one per minute
 * @param {{ label: string, variant?: string }} options label: what the chart shows, for screen readers
 */
export function sparkline(points, { label, variant = '' }) {
  const counts = points.map((point) => point.requests);
  const total = counts.reduce((sum, count) => sum + count, 0);
  const peak = Math.max(1, ...counts);
  const step = counts.length > 1 ? (WIDTH - 2 * PAD) / (counts.length - 1) : 0;
  const x = (index) => PAD + index * step;
  const y = (count) => HEIGHT - PAD - (count / peak) * (HEIGHT - 2 * PAD);

  const svg = svgElement('svg', {
    class: `sparkline ${variant} ${total === 0 ? 'idle' : ''}`.trim(),
    viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
    preserveAspectRatio: 'none',
    role: 'img',
    'aria-label': label,
  });
  const title = svgElement('title', {});
  title.textContent = label;
  svg.append(title);
  svg.append(svgElement('line', { class: 'baseline', x1: PAD, x2: WIDTH - PAD, y1: HEIGHT - PAD, y2: HEIGHT - PAD }));
  if (counts.length === 0) return svg;

  const line = counts.map((count, index) => `${x(index).toFixed(1)},${y(count).toFixed(1)}`).join(' ');
  if (total > 0) {
    const area = `${PAD},${HEIGHT - PAD} ${line} ${x(counts.length - 1).toFixed(1)},${HEIGHT - PAD}`;
    svg.append(svgElement('polygon', { class: 'area', points: area }));
  }
  svg.append(svgElement('polyline', { class: 'line', points: line, 'vector-effect': 'non-scaling-stroke' }));
  const last = counts.length - 1;
  svg.append(svgElement('circle', { class: 'dot', cx: x(last), cy: y(counts[last]), r: 2 }));
  return svg;
}

/** Requests in the last `minutes` buckets. */
export function recentRequests(points, minutes) {
  return points.slice(-minutes).reduce((sum, point) => sum + point.requests, 0);
}
