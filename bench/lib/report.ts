/** Flattens nested results into `a.b.c = value` lines for the Markdown summary. */
export function flatten(value: unknown, prefix = '', out: [string, unknown][] = []): [string, unknown][] {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) flatten(v, prefix ? `${prefix}.${k}` : k, out);
  } else {
    out.push([prefix, value]);
  }
  return out;
}

export function formatNumber(value: unknown): string {
  if (typeof value !== 'number') return Array.isArray(value) ? `${value.length} items` : String(value);
  if (!Number.isFinite(value)) return String(value);
  if (Math.abs(value) >= 1000) return Math.round(value).toLocaleString('en-US');
  return Number.isInteger(value) ? String(value) : value.toFixed(3);
}

export interface Bar {
  label: string;
  value: number;
  unit: string;
}

/**
 * A small horizontal bar chart as SVG text. Hand-written: two bar groups need no chart library,
 * and the usual ones want a DOM or a headless browser to render.
 */
export function barChartSvg(title: string, groups: { name: string; bars: Bar[] }[]): string {
  const width = 760;
  const left = 260;
  const barHeight = 18;
  const gap = 6;
  let y = 40;
  const parts: string[] = [];
  for (const group of groups) {
    parts.push(`<text x="10" y="${y}" font-weight="bold">${escapeXml(group.name)}</text>`);
    y += 12;
    const max = Math.max(...group.bars.map((b) => b.value), 1);
    for (const bar of group.bars) {
      const w = Math.max(1, ((width - left - 120) * bar.value) / max);
      parts.push(
        `<text x="${left - 8}" y="${y + 13}" text-anchor="end">${escapeXml(bar.label)}</text>`,
        `<rect x="${left}" y="${y}" width="${w.toFixed(1)}" height="${barHeight}" fill="#4a7ab5"/>`,
        `<text x="${left + w + 6}" y="${y + 13}">${escapeXml(formatNumber(bar.value))} ${escapeXml(bar.unit)}</text>`,
      );
      y += barHeight + gap;
    }
    y += 18;
  }
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${y}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="10" y="20" font-size="15" font-weight="bold">${escapeXml(title)}</text>`,
    ...parts,
    '</svg>',
  ].join('\n');
}

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
