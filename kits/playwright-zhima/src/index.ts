// playwright-zhima: lease a phone number from a Zhima Console in a Playwright test and wait
// for its SMS codes.
export { expect } from '@playwright/test';
export {
  CodeTimeout,
  END_REASONS,
  endReasonText,
  LeaseEnded,
  ZhimaApiError,
  ZhimaClient,
  type CodeMessage,
  type Item,
  type Lease,
  type LeaseRequest,
  type ZhimaClientOptions,
} from './client';
export { checkConfiguration, makeTag, test, type ZhimaOptions, type ZhimaSettings } from './fixture';
export { ZhimaNumber, type WaitOptions } from './number';
export type { components, paths } from './schema';
