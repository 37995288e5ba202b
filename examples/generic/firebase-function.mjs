// Firebase (Cloud Functions v2). Firebase Auth users carry no metadata, so an
// auth trigger alone never sees the referral. Instead, right after sign-up the
// client writes the cookie next to the user:
//   await setDoc(doc(db, "referrals", user.uid), { email: user.email, gr_id: grId });
// and this function sends it. A thrown error makes Firebase retry (enable
// "Retry on failure"); the same id lets the bridge recognise the retry.
import { onDocumentCreated } from "firebase-functions/v2/firestore";
import { sendToBridge } from "./send.mjs";

export const reditusConversion = onDocumentCreated("referrals/{uid}", async (event) => {
  const { email, gr_id: grId } = event.data.data();
  await sendToBridge({ id: `firebase_${event.params.uid}`, email, uid: event.params.uid, grId });
});
