// Playwright Test's `test`, extended with the `zhimaNumber` (and `zhimaNumbers`) fixture.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { test as base } from '@playwright/test';
import { type LeaseRequest, ZhimaClient } from './client';
import { ZhimaNumber } from './number';

/** Per-test options: `test.use({ zhima: { item: '1005', quantity: 2 } })`. */
export interface ZhimaOptions {
  /** The item to lease (default ZHIMA_ITEM). */
  item?: string;
  /** The developer account (default ZHIMA_ACCOUNT; needed when the token reaches several). */
  account?: string;
  /** How many numbers the test leases (default 1): all in `zhimaNumbers`. */
  quantity?: number;
  areaCode?: string;
  carrier?: '' | '1' | '2' | '3';
  phone?: string;
  international?: boolean;
}

export interface ZhimaSettings {
  client: ZhimaClient;
  item: string;
  account: string | null;
  /** `${account}\n${item}` -> how many numbers one request may lease */
  perRequest: Map<string, number>;
}

const TAG_MAX = 100; // the API's limit

// One run id for the whole run: set in the runner's process before it starts the workers
// (they inherit its environment), unless ZHIMA_RUN_ID names the run.
if (!process.env.ZHIMA_RUN_ID) {
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  process.env.ZHIMA_RUN_ID = `run-${stamp}-${randomBytes(2).toString('hex')}`;
}

/** `"<run> <title path>"`, cut to the API's 100 characters keeping the test's end (its
 * title) and a short hash of the whole, so two long titles stay apart. */
export function makeTag(run: string, titlePath: string[]): string {
  const path = titlePath.filter(Boolean).join(' › ').replace(/[\x00-\x1f\x7f]/g, ' ');
  const tag = Array.from(`${run} ${path}`);
  if (tag.length <= TAG_MAX) return tag.join('');
  const digest = createHash('sha256').update(path).digest('hex').slice(0, 6);
  const keep = TAG_MAX - Array.from(run).length - digest.length - 2;
  return `${run} ${digest}…${Array.from(path).slice(-keep).join('')}`;
}

/** The environment and the console, checked once per worker: one line naming what to set. */
export async function checkConfiguration(
  env: NodeJS.ProcessEnv = process.env,
): Promise<ZhimaSettings> {
  const fail = (msg: string) => new Error(`playwright-zhima: ${msg}`);
  const url = (env.ZHIMA_API_URL ?? '').trim();
  const token = (env.ZHIMA_API_TOKEN ?? '').trim();
  if (!url) {
    throw fail(
      "set ZHIMA_API_URL to the console's base URL (for example https://console.example.com)",
    );
  }
  if (!token) throw fail('set ZHIMA_API_TOKEN to an API token of the console');
  const client = new ZhimaClient({ url, token });
  let response: Response;
  try {
    response = await fetch(`${client.baseUrl}/api/v1/items`, {
      headers: { Authorization: `Bearer ${token}` },
      signal: AbortSignal.timeout(15_000),
    });
  } catch (exc) {
    throw fail(`ZHIMA_API_URL=${url}: the console cannot be reached (${String(exc)})`);
  }
  const body: unknown = await response.json().catch(() => null);
  const envelope =
    !!body && typeof body === 'object' && typeof (body as { error?: unknown }).error === 'object';
  if (response.status === 401 && envelope) {
    throw fail(
      `ZHIMA_API_TOKEN is refused by the console at ${url} (revoked, expired or mistyped): ` +
        'set ZHIMA_API_TOKEN to a valid token',
    );
  }
  if (response.status !== 200 || !Array.isArray(body)) {
    throw fail(
      `ZHIMA_API_URL=${url} is not a Zhima Console (GET ${client.baseUrl}/api/v1/items ` +
        `answered ${response.status} ${response.headers.get('content-type') ?? ''}): set ` +
        "ZHIMA_API_URL to the console's base URL, without /api/v1",
    );
  }
  const perRequest = new Map<string, number>();
  for (const i of body as { account: string; item: string; capabilities?: { max_per_request?: number } }[]) {
    perRequest.set(`${i.account}\n${i.item}`, i.capabilities?.max_per_request ?? 1);
  }
  const accounts = [...new Set([...perRequest.keys()].map((k) => k.split('\n')[0]))].sort();
  let account = (env.ZHIMA_ACCOUNT ?? '').trim() || null;
  if (account && !accounts.includes(account)) {
    throw fail(
      `ZHIMA_ACCOUNT=${account} is not a developer account with items that this token ` +
        `reaches (it reaches: ${accounts.join(', ') || 'none'})`,
    );
  }
  if (!account && accounts.length === 1) account = accounts[0];
  return { client, item: (env.ZHIMA_ITEM ?? '').trim(), account, perRequest };
}

function leaseBody(item: string, account: string, opts: ZhimaOptions, tag: string, n: number) {
  const body: LeaseRequest = { item, account, tag, quantity: n } as LeaseRequest;
  if (opts.areaCode) body.area_code = opts.areaCode;
  if (opts.carrier) body.carrier = opts.carrier;
  if (opts.phone) body.phone = opts.phone;
  if (opts.international) body.international = true;
  return body;
}

type TestFixtures = {
  zhima: ZhimaOptions;
  zhimaNumbers: ZhimaNumber[];
  zhimaNumber: ZhimaNumber;
};
type WorkerFixtures = { zhimaSettings: ZhimaSettings; zhimaRunId: string };

export const test = base.extend<TestFixtures, WorkerFixtures>({
  zhima: [{}, { option: true }],

  zhimaRunId: [
    async ({}, use) => {
      await use(process.env.ZHIMA_RUN_ID ?? 'run');
    },
    { scope: 'worker' },
  ],

  zhimaSettings: [
    async ({}, use) => {
      await use(await checkConfiguration());
    },
    { scope: 'worker' },
  ],

  zhimaNumbers: async ({ zhima, zhimaSettings, zhimaRunId }, use, testInfo) => {
    const settings = zhimaSettings;
    const item = zhima.item ?? settings.item;
    const account = zhima.account ?? settings.account;
    if (!item) {
      throw new Error(
        'playwright-zhima: set ZHIMA_ITEM to the item to lease (for example 1001), ' +
          "or name one per test with test.use({ zhima: { item: '1001' } })",
      );
    }
    if (!account) {
      throw new Error(
        'playwright-zhima: the token reaches several developer accounts: set ZHIMA_ACCOUNT ' +
          'to the one to lease from',
      );
    }
    const perRequest = settings.perRequest.get(`${account}\n${item}`);
    if (perRequest === undefined) {
      throw new Error(
        `playwright-zhima: item ${item} is not an item of developer account ${account} in ` +
          "the console: add it on the console's items page or set ZHIMA_ITEM to another",
      );
    }
    const quantity = zhima.quantity ?? 1;
    const tag = makeTag(zhimaRunId, testInfo.titlePath);
    const numbers: ZhimaNumber[] = [];
    try {
      while (numbers.length < quantity) {
        const n = Math.min(Math.max(1, perRequest), quantity - numbers.length);
        // Its own Idempotency-Key: the client's retry of this request (an answer lost on the
        // way) gets the same numbers back, never more; a retried test leases anew.
        const leases = await settings.client.lease(
          leaseBody(item, account, zhima, tag, n),
          randomUUID(),
        );
        numbers.push(...leases.map((lease) => new ZhimaNumber(settings.client, lease)));
      }
      for (const number of numbers) {
        number.numbers = numbers;
        testInfo.annotations.push({
          type: 'zhima',
          description: `lease ${number.id} ${number.phone}`,
        });
      }
      await use(numbers);
    } finally {
      // Released whether the test passed or failed.
      for (const number of numbers) {
        try {
          await number.release();
        } catch (exc) {
          const msg =
            `playwright-zhima: releasing lease ${number.id} (${number.phone}) failed: ` +
            `${String(exc)}; the console releases it at its deadline`;
          testInfo.annotations.push({ type: 'warning', description: msg });
          console.warn(msg);
        }
      }
    }
  },

  zhimaNumber: async ({ zhimaNumbers }, use) => {
    await use(zhimaNumbers[0]);
  },
});
