// sendToBridge posts one conversion to reditus-bridge's generic endpoint,
// signed with Standard Webhooks. Node 18+. Copy this file into your backend;
// the Auth0, Firebase and Better Auth senders beside it use it.
//
//   REDITUS_BRIDGE_URL     https://your-bridge.fly.dev
//   REDITUS_BRIDGE_SECRET  the GENERIC_WEBHOOK_SECRET you gave the bridge (whsec_...)
import { Webhook } from "standardwebhooks";

export async function sendToBridge({ id, email, uid, grId, affiliateSlug, advocateSlug }) {
  // The same id on a retry lets the bridge recognise the re-send.
  const body = JSON.stringify({ email, uid, gr_id: grId, affiliate_slug: affiliateSlug, advocate_slug: advocateSlug });
  const now = new Date();
  const signature = new Webhook(process.env.REDITUS_BRIDGE_SECRET).sign(id, now, body);
  const res = await fetch(`${process.env.REDITUS_BRIDGE_URL}/webhooks/generic`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "webhook-id": id,
      "webhook-timestamp": String(Math.floor(now.getTime() / 1000)),
      "webhook-signature": signature,
    },
    body,
  });
  const answer = await res.json();
  // 500 and 503 mean "not delivered yet": retry later with the same id.
  if (!res.ok) throw new Error(`reditus-bridge answered ${res.status}: ${answer.reason}`);
  return answer;
}

// Run directly to send one conversion by hand:
//   node send.mjs --email jane@example.com --uid usr_1 --gr-id "<_gr_id cookie>"
if (import.meta.url === `file://${process.argv[1]}`) {
  const arg = (name) => process.argv[process.argv.indexOf(`--${name}`) + 1];
  const answer = await sendToBridge({
    id: `manual_${Date.now()}`,
    email: arg("email"),
    uid: arg("uid"),
    grId: arg("gr-id"),
  });
  console.log(JSON.stringify(answer));
}
