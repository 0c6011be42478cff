#!/usr/bin/env node
// Launcher: the sources are TypeScript run through tsx's loader, so there is no build step
// between `git clone` and `npm start`. Lambda bundles are built separately with esbuild.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../functions/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
