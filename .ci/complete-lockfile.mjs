#!/usr/bin/env node
// The npm registry this project's machines reach serves Linux builds only, so `npm install` here
// leaves the other platforms' optional binaries (biome, duckdb bindings for macOS, Windows, musl,
// and some arm64) out of package-lock.json, and `npm ci` then refuses the lock as out of sync.
// This adds each missing optional platform package as a lock entry with its exact version and its
// os/cpu/libc, so `npm ci` skips it on other platforms and fetches it where it applies.
// Idempotent; run it after any `npm install` that changes the lock.
import fs from 'node:fs';

const file = new URL('../package-lock.json', import.meta.url);
const lock = JSON.parse(fs.readFileSync(file, 'utf8'));
const packages = lock.packages;
const platform = (name) => {
  const m =
    /-(android|darwin|linux|win32|freebsd|openbsd|sunos|aix)-(arm64|x64|ia32|arm|ppc64|s390x|riscv64|loong64|mips64el)(-(musl|gnu|msvc))?$/.exec(
      name,
    );
  if (!m) return undefined;
  const entry = { os: [m[1]], cpu: [m[2]] };
  if (m[4] === 'musl') entry.libc = ['musl'];
  else if (m[1] === 'linux') entry.libc = ['glibc'];
  return entry;
};
let added = 0;
for (const [path, pkg] of Object.entries(packages)) {
  for (const [dep, version] of Object.entries(pkg.optionalDependencies ?? {})) {
    const where = `${path ? `${path}/` : ''}node_modules/${dep}`;
    const hoisted = `node_modules/${dep}`;
    if (packages[where] || packages[hoisted]) continue;
    const target = platform(dep);
    if (!target || !/^\d+\.\d+\.\d+/.test(version)) continue; // only exact-version platform binaries
    packages[hoisted] = { version, ...target, optional: true, ...(pkg.dev ? { dev: true } : {}) };
    added++;
  }
}
lock.packages = Object.fromEntries(
  Object.entries(packages).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a.localeCompare(b))),
);
fs.writeFileSync(file, `${JSON.stringify(lock, null, 2)}\n`);
console.log(`complete-lockfile: added ${added} platform package entr${added === 1 ? 'y' : 'ies'}`);
