// Better Auth: a database hook after a user is created. The sign-up request
// still carries the visitor's cookies, _gr_id among them.
import { betterAuth } from "better-auth";
import { sendToBridge } from "./send.mjs";

export const auth = betterAuth({
  // ...your database and providers...
  databaseHooks: {
    user: {
      create: {
        after: async (user, ctx) => {
          const cookies = ctx?.headers?.get("cookie") ?? "";
          const grId = cookies.match(/(?:^|;\s*)_gr_id=([^;]*)/)?.[1];
          if (!grId) return; // not referred
          await sendToBridge({ id: `better-auth_${user.id}`, email: user.email, uid: user.id, grId });
        },
      },
    },
  },
});
