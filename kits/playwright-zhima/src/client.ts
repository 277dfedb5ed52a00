// A small typed client of the console's API (/api/v1/), on openapi-fetch, with the types
// generated from the console's OpenAPI document (src/schema.ts, `npm run gen`).
import createClient, { type Client } from 'openapi-fetch';
import type { components, paths } from './schema';

export type Lease = components['schemas']['LeaseOut'];
export type Item = components['schemas']['ItemOut'];
export type CodeMessage = components['schemas']['CodeOut'];
export type LeaseRequest = components['schemas']['LeaseIn'];

/** The API's most patient long-poll, in seconds. */
export const MAX_WAIT_SECONDS = 120;

/** The API's `end_reason` codes, as words for a failing test's message. */
export const END_REASONS: Record<string, string> = {
  user: 'released by a member',
  admin: 'released by an administrator',
  release_all: 'released by a release-all',
  blacklisted: 'the number was blacklisted',
  code: 'released when its code arrived (the item receives a single SMS)',
  deadline: "released before the upstream's forced release (30 minutes after leasing)",
  wait_limit: "no SMS arrived within the item's wait limit",
  held: "held for the item's wait limit after the last SMS",
  lost: 'the upstream lost the SMS (status 3)',
  timeout: 'the upstream timed out waiting for the SMS (status 4)',
  status: 'the upstream reported an unexpected SMS status',
  gone: 'the upstream released the number on its own',
  recovered: 'released after an interrupted blacklisting',
};

export function endReasonText(reason: string | null | undefined): string {
  return (reason && END_REASONS[reason]) || reason || 'no reason recorded';
}

/** The API answered with an error: its status, and `code` and `apiMessage` from its body. */
export class ZhimaApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly apiMessage: string,
  ) {
    super(`${status} ${code}: ${apiMessage}`);
    this.name = 'ZhimaApiError';
  }
}

/** No (new) SMS arrived in time. */
export class CodeTimeout extends Error {
  name = 'CodeTimeout';
}

/** The lease ended before a (new) SMS arrived: `state` and `endReason` are the API's. */
export class LeaseEnded extends Error {
  name = 'LeaseEnded';
  constructor(
    message: string,
    readonly state: string,
    readonly endReason: string,
  ) {
    super(message);
  }
}

export interface ZhimaClientOptions {
  /** The console's base URL (ZHIMA_API_URL), without /api/v1. */
  url: string;
  /** An API token (ZHIMA_API_TOKEN). */
  token: string;
  /** Milliseconds for a call that is not a long-poll (default 30 s). */
  timeout?: number;
  /** Attempts after the first one, when no answer came or the server asked to retry. */
  retries?: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** `ZHIMA_API_URL` is the console's base URL; the paths in the schema start at /api/v1. */
export function consoleBase(url: string): string {
  return url.replace(/\/+$/, '').replace(/\/api\/v1$/, '');
}

export class ZhimaClient {
  readonly api: Client<paths>;
  readonly baseUrl: string;
  readonly timeout: number;
  readonly retries: number;

  constructor({ url, token, timeout = 30_000, retries = 3 }: ZhimaClientOptions) {
    this.baseUrl = consoleBase(url);
    this.timeout = timeout;
    this.retries = retries;
    this.api = createClient<paths>({
      baseUrl: this.baseUrl,
      headers: { Authorization: `Bearer ${token}`, 'User-Agent': 'playwright-zhima/0.1' },
      fetch: this.fetcher(),
    });
  }

  /** A client from ZHIMA_API_URL and ZHIMA_API_TOKEN. */
  static fromEnv(env: NodeJS.ProcessEnv = process.env): ZhimaClient {
    const url = (env.ZHIMA_API_URL ?? '').trim();
    const token = (env.ZHIMA_API_TOKEN ?? '').trim();
    if (!url) throw new Error("playwright-zhima: set ZHIMA_API_URL to the console's base URL");
    if (!token) throw new Error('playwright-zhima: set ZHIMA_API_TOKEN to an API token');
    return new ZhimaClient({ url, token });
  }

  /** fetch with retries, each attempt given `ms` milliseconds. */
  private fetcher(ms = this.timeout) {
    return (request: Request) => retrying(request, this.retries, ms);
  }

  async items(): Promise<Item[]> {
    const { data, error, response } = await this.api.GET('/api/v1/items', {
      fetch: this.fetcher(),
    });
    return ok(data, error, response);
  }

  /** Lease numbers; `key` is the request's Idempotency-Key (kept across its retries). */
  async lease(body: LeaseRequest, key: string): Promise<Lease[]> {
    const { data, error, response } = await this.api.POST('/api/v1/leases', {
      body,
      params: { header: { 'Idempotency-Key': key } },
      fetch: this.fetcher(),
    });
    return ok(data, error, response).leases;
  }

  async getLease(id: number) {
    const { data, error, response } = await this.api.GET('/api/v1/leases/{lease_id}', {
      params: { path: { lease_id: id } },
      fetch: this.fetcher(),
    });
    return ok(data, error, response);
  }

  /** One long-poll: the first message newer than `after`, or null after `wait` seconds (204).
   * A lease that ended with no newer message is a 410 (a ZhimaApiError with status 410). */
  async waitCode(id: number, wait: number, after = 0): Promise<CodeMessage | null> {
    const { data, error, response } = await this.api.GET('/api/v1/leases/{lease_id}/code', {
      params: { path: { lease_id: id }, query: { wait, after } },
      fetch: this.fetcher(wait * 1000 + 15_000),
    });
    if (response.status === 204) return null;
    return ok(data, error, response);
  }

  /** Ask the console to poll for another SMS on the number (items that receive several). */
  async keepWaiting(id: number): Promise<Lease> {
    const { data, error, response } = await this.api.POST(
      '/api/v1/leases/{lease_id}/keep-waiting',
      { params: { path: { lease_id: id } }, fetch: this.fetcher() },
    );
    return ok(data, error, response);
  }

  async release(id: number): Promise<Lease> {
    const { data, error, response } = await this.api.POST('/api/v1/leases/{lease_id}/release', {
      params: { path: { lease_id: id } },
      fetch: this.fetcher(),
    });
    return ok(data, error, response);
  }
}

function ok<T>(data: T | undefined, error: unknown, response: Response): T {
  if (response.ok && data !== undefined) return data;
  const body = (error ?? {}) as { error?: { code?: string; message?: string } };
  const err = body.error;
  if (err && typeof err === 'object') {
    throw new ZhimaApiError(response.status, err.code ?? '', err.message ?? '');
  }
  const text = typeof error === 'string' ? error.slice(0, 200) : response.statusText;
  throw new ZhimaApiError(response.status, 'http_error', text);
}

/** The request, repeated (the same headers, so the same Idempotency-Key) only when no answer
 * came, on 429, and on a 409 with Retry-After (the same key still in progress): the server
 * never leases twice for one key. */
async function retrying(request: Request, retries: number, ms: number): Promise<Response> {
  for (let attempt = 0; ; attempt++) {
    let response: Response;
    try {
      response = await fetch(request.clone(), { signal: AbortSignal.timeout(ms) });
    } catch (exc) {
      if (attempt >= retries) throw exc;
      await sleep(500 * 2 ** attempt);
      continue;
    }
    const busy =
      response.status === 429 || (response.status === 409 && response.headers.has('Retry-After'));
    if (!busy || attempt >= retries) return response;
    const after = Number(response.headers.get('Retry-After'));
    await response.body?.cancel();
    await sleep(Number.isFinite(after) ? Math.min(after, 30) * 1000 : 500 * 2 ** attempt);
  }
}
