// The simulator's control endpoint: what the app under test's SMS provider would do.
export async function sendSms(phone: string, text: string): Promise<void> {
  const sim = (process.env.ZHIMA_SIM_URL ?? '').replace(/\/+$/, '');
  const response = await fetch(`${sim}/_sim/sms`, {
    method: 'POST',
    body: new URLSearchParams({ phoneNo: phone, text }),
  });
  if (response.status !== 200) throw new Error(`/_sim/sms: ${response.status}`);
}
