// The kit's own tests (tests/): a live console, its simulator and a sign-up page are started
// by the console's test suite (tests/kit/test_playwright_kit.py), which runs `npx playwright test`.
import { existsSync } from 'node:fs';
import { defineConfig } from '@playwright/test';

const chromium = process.env.CHROMIUM ?? '/usr/bin/chromium';

export default defineConfig({
  testDir: 'tests',
  workers: Number(process.env.ZHIMA_WORKERS ?? 2),
  fullyParallel: true,
  reporter: [['list'], ['json', { outputFile: process.env.ZHIMA_REPORT ?? 'test-results/report.json' }]],
  use: {
    // Debian's Chromium: Playwright's browser download is not used here.
    launchOptions: existsSync(chromium) ? { executablePath: chromium } : {},
  },
});
