// A failing test still releases its numbers (run on its own: ZHIMA_FAILING_DEMO=1).
import { test } from 'playwright-zhima';

test.skip(!process.env.ZHIMA_FAILING_DEMO, 'the failing demonstration runs on its own');
test.use({ zhima: { quantity: 2 } });

test('the sign-up page is broken', async ({ zhimaNumbers }) => {
  if (zhimaNumbers.length === 2) throw new Error('the sign-up page is broken');
});
