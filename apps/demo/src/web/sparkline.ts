import { SERIES_LENGTH } from '../shared/view-model.js';

const NS = 'http://www.w3.org/2000/svg';

/**
 * Draws a series (one sample a second, oldest first, kept by the backend so a freshly opened page
 * shows the last two minutes at once) into a fixed 300×40 SVG, scaled to the series' max.
 */
export function drawSparkline(svg: SVGSVGElement, series: number[]): number {
  let line = svg.querySelector('polyline');
  let area = svg.querySelector('polygon');
  if (line === null || area === null) {
    area = document.createElementNS(NS, 'polygon');
    area.setAttribute('class', 'area');
    line = document.createElementNS(NS, 'polyline');
    svg.replaceChildren(area, line);
  }
  const max = Math.max(1, ...series);
  if (series.length === 0) return max;
  const step = 300 / (SERIES_LENGTH - 1);
  const offset = (SERIES_LENGTH - series.length) * step;
  const pts = series.map((v, i) => `${(offset + i * step).toFixed(1)},${(38 - (v / max) * 34).toFixed(1)}`);
  line.setAttribute('points', pts.join(' '));
  area.setAttribute(
    'points',
    `${offset.toFixed(1)},40 ${pts.join(' ')} ${(offset + (series.length - 1) * step).toFixed(1)},40`,
  );
  return max;
}
