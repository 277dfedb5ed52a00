// The example: a sign-up page with SMS verification (SIGNUP_URL, an app whose "Send code"
// asks its SMS provider — here the console's simulator — to text a code to the phone).
import { expect, test } from 'playwright-zhima';

test('sign up with an SMS code', async ({ page, zhimaNumber }) => {
  await page.goto(process.env.SIGNUP_URL!);
  await page.fill('#phone', zhimaNumber.phone);
  await page.click('#send');
  await expect(page.locator('#note')).toHaveText('Code sent.');

  await page.fill('#code', await zhimaNumber.waitCode({ timeout: 60_000 }));
  await page.click('#signup');

  await expect(page.locator('h1')).toHaveText(`Welcome, ${zhimaNumber.phone}`);
  expect(zhimaNumber.lastMessage?.text).toContain(zhimaNumber.lastMessage?.code);
});
