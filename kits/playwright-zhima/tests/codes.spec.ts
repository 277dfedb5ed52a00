// The fixture's waits, options and numbers against the live console.
import { expect, LeaseEnded, test } from 'playwright-zhima';
import { sendSms } from './sim';

test('the first code', async ({ zhimaNumber }) => {
  expect(zhimaNumber.tag).toBe(`${process.env.ZHIMA_RUN_ID} codes.spec.ts › the first code`);
  await sendSms(zhimaNumber.phone, 'Your code is 111111.');
  expect(await zhimaNumber.waitCode({ timeout: 20_000 })).toBe('111111');
  expect(await zhimaNumber.waitCode({ timeout: 20_000 })).toBe('111111'); // the first, again
  expect(zhimaNumber.lastMessage?.text).toBe('Your code is 111111.');
});

test.describe('an item that receives several SMS', () => {
  test.use({ zhima: { item: '1005' } });

  test('a second code', async ({ zhimaNumber }) => {
    expect(zhimaNumber.item).toBe('1005');
    await sendSms(zhimaNumber.phone, 'Your code is 111111.');
    expect(await zhimaNumber.waitCode({ timeout: 20_000 })).toBe('111111');
    await sendSms(zhimaNumber.phone, 'Your code is 222222.');
    expect(await zhimaNumber.waitNextCode({ timeout: 20_000 })).toBe('222222'); // never stale
    await sendSms(zhimaNumber.phone, 'Your code is 333333.');
    expect(await zhimaNumber.waitNextCode({ timeout: 20_000 })).toBe('333333');
  });
});

test.describe('two numbers', () => {
  test.use({ zhima: { quantity: 2 } });

  test('in one test', async ({ zhimaNumber, zhimaNumbers }) => {
    expect(zhimaNumber).toBe(zhimaNumbers[0]);
    expect(zhimaNumber.numbers).toBe(zhimaNumbers);
    expect(new Set(zhimaNumbers.map((n) => n.phone)).size).toBe(2);
    await sendSms(zhimaNumbers[0].phone, 'Your code is 900000.');
    await sendSms(zhimaNumbers[1].phone, 'Your code is 900001.');
    const codes = await Promise.all(zhimaNumbers.map((n) => n.waitCode({ timeout: 20_000 })));
    expect(codes).toEqual(['900000', '900001']);
  });
});

test('a single-SMS item says why no second code comes', async ({ zhimaNumber }) => {
  await sendSms(zhimaNumber.phone, 'Your code is 444444.');
  await zhimaNumber.waitCode({ timeout: 20_000 });
  const ended = await zhimaNumber.waitNextCode({ timeout: 20_000 }).catch((exc) => exc);
  expect(ended).toBeInstanceOf(LeaseEnded);
  expect(ended.endReason).toBe('code');
  expect(ended.message).toContain('ended with no new SMS: released when its code arrived');
  expect(ended.message).toContain('keep-waiting was refused: This item receives a single SMS.');
});

test('release() by hand, then the teardown has nothing left to do', async ({ zhimaNumber }) => {
  await zhimaNumber.release();
  expect(zhimaNumber.released).toBe(true);
  const ended = await zhimaNumber.waitCode({ timeout: 5_000 }).catch((exc) => exc);
  expect(ended).toBeInstanceOf(LeaseEnded);
  expect(ended.message).toContain('released by a member');
});
