import type { EmbeddedPipeline } from '../../infra/local/embedded-pipeline.ts';
import type { Fleet } from '../../simulators/fleet.ts';

const fmt = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

/** Live stats on the terminal: rates over the last interval and running totals. */
export class StatsTicker {
  #timer: NodeJS.Timeout | undefined;
  #last = { at: 0, received: 0, written: 0 };

  constructor(
    private readonly pipeline: EmbeddedPipeline,
    private readonly fleet: Fleet | undefined,
    private readonly intervalMs: number,
    private readonly write: (line: string) => void,
  ) {}

  start(): void {
    this.#last = {
      at: Date.now(),
      received: this.pipeline.bridge.stats.received,
      written: this.pipeline.topology.counters.written,
    };
    this.#timer = setInterval(() => this.print(), this.intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  print(): void {
    const now = Date.now();
    const seconds = Math.max((now - this.#last.at) / 1000, 0.001);
    const b = this.pipeline.bridge.stats;
    const c = this.pipeline.topology.counters;
    const lag = this.pipeline.topology.mappings.map(
      (m) =>
        `${m.mapping.FunctionName} ${m.mapping.EventSource.startsWith('telemetry') && m.stats.lagMs ? `${fmt.format(m.stats.lagMs)}ms` : fmt.format(m.stats.lag)}`,
    );
    const parts = [
      new Date(now).toISOString().slice(11, 19),
      `in ${fmt.format((b.received - this.#last.received) / seconds)}/s`,
      `written ${fmt.format((c.written - this.#last.written) / seconds)}/s`,
      `| total in ${fmt.format(b.received)} acked ${fmt.format(b.acknowledged)} written ${fmt.format(c.written)}`,
      `dup ${fmt.format(c.duplicates)} dlq ${fmt.format(c.rejected)} alerts ${fmt.format(c.alerts)}`,
      `| lag ${lag.join(', ')}`,
      `| bridge in-flight ${fmt.format(b.inFlightMessages)}${b.paused ? ' PAUSED' : ''}`,
    ];
    if (this.fleet) parts.push(`| sim published ${fmt.format(this.fleet.stats.published)}`);
    this.write(parts.join('  '));
    this.#last = { at: now, received: b.received, written: c.written };
  }
}
