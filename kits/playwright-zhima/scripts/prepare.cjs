#!/usr/bin/env node
// `prepare` (npm runs it on `npm install` in this folder and when a project installs the kit
// with `npm install --install-links PATH/kits/playwright-zhima`): build dist/ with tsc. A
// fresh checkout has no node_modules here yet: install the locked tools first.
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const run = (cmd, args) => execFileSync(cmd, args, { cwd: root, stdio: 'inherit' });
if (!fs.existsSync(path.join(root, 'src'))) process.exit(0); // installed from a packed copy
if (!fs.existsSync(path.join(root, 'node_modules', 'typescript'))) {
  run('npm', ['ci', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline']);
}
run(process.execPath, [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', root]);
