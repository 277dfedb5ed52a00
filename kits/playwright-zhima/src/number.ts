// One leased number: its phone, its codes as they arrive, its release.
import {
  CodeTimeout,
  type CodeMessage,
  endReasonText,
  type Lease,
  LeaseEnded,
  MAX_WAIT_SECONDS,
  type ZhimaClient,
  ZhimaApiError,
} from './client';

export interface WaitOptions {
  /** Milliseconds to wait for the SMS (default 60 000), as Playwright's timeouts are. */
  timeout?: number;
}

export class ZhimaNumber {
  readonly id: number;
  readonly phone: string;
  readonly item: string;
  readonly tag: string;
  lease: Lease;
  /** The last SMS read here: `{ code, text, message_id, received_at }`. */
  lastMessage: CodeMessage | null = null;
  released = false;
  /** Every number the test leased (this one first). */
  numbers: ZhimaNumber[] = [this];

  constructor(
    readonly client: ZhimaClient,
    lease: Lease,
  ) {
    this.lease = lease;
    this.id = lease.id;
    this.phone = lease.phone;
    this.item = lease.item;
    this.tag = lease.tag;
  }

  /** The code of the first SMS this number received (waiting for it if need be). */
  async waitCode({ timeout = 60_000 }: WaitOptions = {}): Promise<string> {
    return this.wait(0, timeout);
  }

  /** The code of an SMS newer than the last one read here: never a stale code. After a code
   * was read, the console is asked to keep waiting for another SMS on the number (items that
   * receive several: types 3 to 6), then the wait starts after that code. */
  async waitNextCode({ timeout = 60_000 }: WaitOptions = {}): Promise<string> {
    if (!this.lastMessage) return this.wait(0, timeout);
    const refused = await this.keepWaiting();
    return this.wait(this.lastMessage.message_id, timeout, refused);
  }

  /** Ask the console to poll for another SMS; returns its refusal, if any (the number is
   * already waiting, or its item receives a single SMS). */
  async keepWaiting(): Promise<string> {
    try {
      this.lease = await this.client.keepWaiting(this.id);
      return '';
    } catch (exc) {
      if (exc instanceof ZhimaApiError && exc.status === 409) return exc.apiMessage;
      throw exc;
    }
  }

  private async wait(after: number, timeout: number, refused = ''): Promise<string> {
    const deadline = Date.now() + timeout;
    for (;;) {
      const left = Math.max(0, Math.min(MAX_WAIT_SECONDS * 1000, deadline - Date.now()));
      let message: CodeMessage | null;
      try {
        message = await this.client.waitCode(this.id, Math.round(left / 100) / 10, after);
      } catch (exc) {
        if (exc instanceof ZhimaApiError && exc.status === 410) throw await this.ended(refused);
        throw exc;
      }
      if (message) {
        this.lastMessage = message;
        return message.code;
      }
      if (Date.now() >= deadline) {
        throw new CodeTimeout(
          `no ${after ? 'new ' : ''}SMS for ${this.phone} (lease ${this.id}) within ${timeout} ms`,
        );
      }
    }
  }

  private async ended(refused: string): Promise<LeaseEnded> {
    const { messages: _messages, ...lease } = await this.client.getLease(this.id);
    this.lease = lease;
    let why = endReasonText(lease.end_reason);
    if (refused) why += `; keep-waiting was refused: ${refused}`;
    return new LeaseEnded(
      `lease ${this.id} (${this.phone}) ended with no new SMS: ${why}`,
      lease.state,
      lease.end_reason,
    );
  }

  /** Release the number; one already ended (released, expired) is fine. */
  async release(): Promise<void> {
    if (this.released) return;
    try {
      this.lease = await this.client.release(this.id);
    } catch (exc) {
      // 409: no longer held; 502 release_pending: the console retries the release itself.
      const fine =
        exc instanceof ZhimaApiError && (exc.status === 409 || exc.code === 'release_pending');
      if (!fine) throw exc;
    }
    this.released = true;
  }
}
