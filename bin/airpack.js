#!/usr/bin/env node
import { main, stopOnUncaughtErrors } from '../dist/cli/main.js';

stopOnUncaughtErrors();
process.exitCode = await main();
