// Auth0 post-user-registration Action. In the Action editor add the dependency
// standardwebhooks@1.1.1 and the secrets REDITUS_BRIDGE_URL and
// REDITUS_BRIDGE_SECRET. Your sign-up form stores the _gr_id cookie in
// user_metadata (for example user_metadata: { gr_id } in /dbconnections/signup).
const { Webhook } = require("standardwebhooks");

exports.onExecutePostUserRegistration = async (event) => {
  const grId = event.user.user_metadata && event.user.user_metadata.gr_id;
  if (!grId) return; // not referred
  const id = `auth0_${event.user.user_id}`;
  const body = JSON.stringify({ email: event.user.email, uid: event.user.user_id, gr_id: grId });
  const now = new Date();
  const res = await fetch(`${event.secrets.REDITUS_BRIDGE_URL}/webhooks/generic`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "webhook-id": id,
      "webhook-timestamp": String(Math.floor(now.getTime() / 1000)),
      "webhook-signature": new Webhook(event.secrets.REDITUS_BRIDGE_SECRET).sign(id, now, body),
    },
    body,
  });
  if (!res.ok) console.log(`reditus-bridge answered ${res.status} for ${id}`);
};
