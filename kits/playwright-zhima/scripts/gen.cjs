#!/usr/bin/env node
// `npm run gen`: regenerate src/schema.ts (the API's types) from a console's OpenAPI document,
// `${ZHIMA_API_URL}/api/v1/openapi.json` (ZHIMA_API_URL is the console's base URL), or from
// ZHIMA_OPENAPI (a URL or a file). ZHIMA_SCHEMA_OUT writes elsewhere (a check compares it).
'use strict';
const { execFileSync } = require('node:child_process');
const path = require('node:path');

const base = (process.env.ZHIMA_API_URL || 'http://127.0.0.1:8000').replace(/\/+$/, '');
const source =
  process.env.ZHIMA_OPENAPI || `${base.replace(/\/api\/v1$/, '')}/api/v1/openapi.json`;
const out = process.env.ZHIMA_SCHEMA_OUT || path.join(__dirname, '..', 'src', 'schema.ts');
const cli = path.join(__dirname, '..', 'node_modules', 'openapi-typescript', 'bin', 'cli.js');
execFileSync(process.execPath, [cli, source, '--output', out], { stdio: 'inherit' });
