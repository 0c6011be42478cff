/**
 * Where a process's CPU time went, from a V8 .cpuprofile (`node --cpu-prof`): self time by
 * component (the package or folder a function comes from) and the top functions.
 */
interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

export interface ProfileSummary {
  /** Share of busy time (idle excluded), percent. */
  byComponent: Record<string, number>;
  topFunctions: Array<{ function: string; where: string; percent: number }>;
  busyMs: number;
}

function component(url: string, name: string): string {
  if (name === '(garbage collector)') return 'gc';
  if (name === '(program)' || name === '(idle)' || name === '(root)') return name.slice(1, -1);
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1]!;
  if (url.includes('/functions/bridge/')) return 'bridge (functions/bridge)';
  if (url.includes('/functions/lib/')) return 'functions/lib';
  if (url.startsWith('node:') || url === '') return 'node internals (net, streams, timers)';
  return 'other';
}

export function summariseProfile(profile: {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
}): ProfileSummary {
  const totalHits = profile.nodes.reduce((n, node) => n + (node.hitCount ?? 0), 0);
  const msPerHit = (profile.endTime - profile.startTime) / 1000 / Math.max(1, totalHits);
  const byComponent = new Map<string, number>();
  const byFunction = new Map<string, number>();
  let busy = 0;
  for (const node of profile.nodes) {
    const hits = node.hitCount ?? 0;
    const { functionName, url, lineNumber } = node.callFrame;
    const name = component(url, functionName);
    if (name === 'idle' || name === 'root') continue;
    busy += hits;
    byComponent.set(name, (byComponent.get(name) ?? 0) + hits);
    const key = `${functionName || '(anonymous)'}\t${url.replace(/^.*node_modules\//, '').replace(/^.*\/work\/[^/]+\//, '')}:${lineNumber + 1}`;
    byFunction.set(key, (byFunction.get(key) ?? 0) + hits);
  }
  const pct = (hits: number) => Math.round((hits / Math.max(1, busy)) * 1000) / 10;
  return {
    byComponent: Object.fromEntries(
      [...byComponent].sort((a, b) => b[1] - a[1]).map(([k, v]) => [k, pct(v)]),
    ),
    topFunctions: [...byFunction]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 15)
      .map(([key, hits]) => {
        const [fn, where] = key.split('\t');
        return { function: fn!, where: where!, percent: pct(hits) };
      }),
    busyMs: Math.round(busy * msPerHit),
  };
}
