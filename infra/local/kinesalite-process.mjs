/**
 * kinesalite in a process of its own, started by kinesalite-server.ts: it serves Kinesis on
 * loopback like Mosquitto and the Kafka mock do, instead of sharing the event loop (and holding
 * its in-memory store) in the process under test. Plain JavaScript, so it starts without a loader.
 *
 *   node kinesalite-process.mjs '{"port":0,"host":"127.0.0.1","path":null,"shardLimit":500,"keepAliveTimeoutMs":120000}'
 *
 * Prints {"port":N} on stdout once listening. Exits on SIGTERM/SIGINT after closing its store, and
 * when its stdin closes (the parent died), so it never outlives the harness.
 */
import { createRequire } from 'node:module';

const kinesalite = createRequire(import.meta.url)('kinesalite');
const options = JSON.parse(process.argv[2] ?? '{}');

const server = kinesalite({
  ...(options.path ? { path: options.path } : {}),
  shardLimit: options.shardLimit,
  // Streams are ACTIVE at once instead of after kinesalite's default 500 ms in CREATING/UPDATING.
  createStreamMs: 0,
  deleteStreamMs: 0,
  updateStreamMs: 0,
});
server.keepAliveTimeout = options.keepAliveTimeoutMs;
server.headersTimeout = options.keepAliveTimeoutMs + 1_000;

let closing = false;
function close(code) {
  if (closing) return;
  closing = true;
  // kinesalite's close() closes its LevelDB store, then the HTTP server; idle keep-alive sockets
  // of clients would hold it open, so they are closed too.
  server.close(() => process.exit(code));
  server.closeAllConnections();
}

server.once('error', (error) => {
  process.stderr.write(`kinesalite: ${error.message}\n`);
  process.exit(1);
});
server.listen(options.port ?? 0, options.host, () => {
  process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`);
});
process.on('SIGTERM', () => close(0));
process.on('SIGINT', () => close(0));
process.stdin.on('end', () => close(0));
process.stdin.resume();
