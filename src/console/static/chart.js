// A bar chart in plain SVG: enough for "how many expire each week", no charting library.
// The numbers are also offered as a table, for screen readers and for copying.
import { useLayoutEffect, useRef, useState } from "preact/hooks";
import { html } from "./ui.js";

/** A round axis maximum (1, 2, 5 × 10^n) at or above max. */
function niceMax(max) {
  if (max <= 4) return Math.max(1, max);
  const p = 10 ** Math.floor(Math.log10(max));
  return [1, 2, 5, 10].map((m) => m * p).find((v) => v >= max);
}

/**
 * The width of `ref`'s element, followed as it changes (window resize, a sidebar, zoom). Drawn in user units
 * equal to CSS pixels, so text keeps its size and only the bars stretch.
 */
function useWidth(ref) {
  const [width, setWidth] = useState(0);
  useLayoutEffect(() => {
    const el = ref.current;
    const measure = () => setWidth(Math.floor(el.clientWidth));
    measure();
    const observer = new ResizeObserver(measure);
    observer.observe(el);
    return () => observer.disconnect();
  }, []);
  return width;
}

/**
 * data: [{ label, value, title? }]. The SVG spans its panel's width. Every bar carries data-value so tests
 * (and tools) read what was drawn.
 */
export function BarChart({ id, title, data, valueLabel = "certificates", height = 220 }) {
  const ref = useRef(null);
  const width = useWidth(ref);
  const left = 36;
  const top = 16;
  const bottom = 40;
  const plotH = height - top - bottom;
  // One slot per bar across the panel; a bar is most of its slot, but never a slab on a wide screen.
  const slot = data.length ? Math.max(width - left, 0) / data.length : 0;
  const barW = Math.max(Math.min(slot * 0.72, 64), 1);
  const max = niceMax(Math.max(0, ...data.map((d) => d.value)));
  const y = (v) => top + plotH - (v / max) * plotH;
  const ticks = max <= 4 ? Array.from({ length: max + 1 }, (_, i) => i) : [0, max / 2, max];
  const total = data.reduce((s, d) => s + d.value, 0);
  // A label needs about 44 px ("06 Dec"): label every n-th bar so they never overlap.
  const every = Math.max(1, Math.ceil(44 / Math.max(slot, 1)));

  return html`
    <figure class="chart" ref=${ref}>
      ${width ? html`
      <svg viewBox=${`0 0 ${width} ${height}`} width=${width} height=${height} role="img" aria-labelledby=${`${id}-title ${id}-desc`} class="bar-chart">
        <title id=${`${id}-title`}>${title}</title>
        <desc id=${`${id}-desc`}>${total} ${valueLabel} over ${data.length} bars; the table below lists every value.</desc>
        ${ticks.map((t) => html`
          <g key=${`t${t}`} class="tick">
            <line x1=${left} x2=${width} y1=${y(t)} y2=${y(t)} />
            <text x=${left - 6} y=${y(t) + 4} text-anchor="end">${t}</text>
          </g>`)}
        ${data.map((d, i) => {
          const cx = left + slot * (i + 0.5);
          const h = (d.value / max) * plotH;
          return html`
            <g key=${d.label}>
              <rect class="bar" x=${cx - barW / 2} y=${y(d.value)} width=${barW} height=${Math.max(h, 0)} data-value=${d.value} data-label=${d.label}>
                <title>${d.title ?? d.label}: ${d.value} ${valueLabel}</title>
              </rect>
              ${d.value > 0 ? html`<text class="value" x=${cx} y=${y(d.value) - 4} text-anchor="middle">${d.value}</text>` : ""}
              ${i % every === 0 ? html`<text class="label" x=${cx} y=${height - bottom + 16} text-anchor="middle">${d.label}</text>` : ""}
            </g>`;
        })}
      </svg>` : html`<div class="chart-placeholder" aria-hidden="true"></div>`}
      <figcaption>${title}</figcaption>
      <details>
        <summary>Show the numbers</summary>
        <table>
          <thead><tr><th scope="col">Period</th><th scope="col">${valueLabel}</th></tr></thead>
          <tbody>${data.map((d) => html`<tr key=${d.label}><th scope="row">${d.title ?? d.label}</th><td>${d.value}</td></tr>`)}</tbody>
        </table>
      </details>
    </figure>`;
}
