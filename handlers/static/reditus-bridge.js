/*
 * reditus-bridge.js: carries Reditus's _gr_id cookie into Stripe, with no code
 * of yours. Add it next to Reditus's own script:
 *
 *   <script src="https://YOUR-BRIDGE/reditus-bridge.js" defer></script>
 *
 * With a _gr_id cookie present it
 *   - adds client_reference_id=gr_<base64url of the percent-decoded cookie>
 *     to every Stripe Payment Link (https://buy.stripe.com/...) on the page,
 *     including links added later;
 *   - sets client-reference-id on <stripe-pricing-table> and
 *     <stripe-buy-button>;
 *   - offers window.reditusBridge.metadata(), the object to pass as metadata
 *     at sign-up or checkout ({ gr_id: ... }, or {} without a cookie).
 * Without the cookie it changes nothing. It never throws.
 */
(function () {
  "use strict";
  var PREFIX = "gr_";
  var MAX_REFERENCE = 200; // Stripe's limit for client_reference_id

  function cookie() {
    try {
      var m = document.cookie.match(/(?:^|;\s*)_gr_id=([^;]*)/);
      return m ? m[1] : "";
    } catch (e) {
      return "";
    }
  }

  // The cookie percent-decoded once, the way the bridge decodes it. Reditus
  // stores it percent-encoded (%3A for each of its ten colons), and decoding
  // first lets a longer cookie fit in Stripe's 200 characters. A value that
  // does not decode, or that still holds a % once decoded (the bridge would
  // decode that again), is kept as it is: the bridge reads that form too.
  function decoded(value) {
    try {
      var text = decodeURIComponent(value);
      return text.indexOf("%") < 0 ? text : value;
    } catch (e) {
      return value;
    }
  }

  // The cookie's value as the bridge decodes it: "gr_" + base64url, no padding.
  function clientReferenceId() {
    var value = cookie();
    if (!value) return "";
    try {
      var bytes = unescape(encodeURIComponent(decoded(value))); // UTF-8, for btoa
      var ref = PREFIX + btoa(bytes).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
      return ref.length <= MAX_REFERENCE ? ref : "";
    } catch (e) {
      return "";
    }
  }

  function metadata() {
    var value = cookie();
    return value ? { gr_id: value } : {};
  }

  function rewriteLink(a, ref) {
    try {
      var url = new URL(a.href);
      if (url.hostname !== "buy.stripe.com") return;
      if (url.searchParams.get("client_reference_id") === ref) return;
      url.searchParams.set("client_reference_id", ref);
      a.href = url.toString();
    } catch (e) {}
  }

  function apply(root) {
    var ref = clientReferenceId();
    if (!ref || !root || !root.querySelectorAll) return;
    var nodes = [root].concat(Array.prototype.slice.call(
      root.querySelectorAll('a[href^="https://buy.stripe.com/"], stripe-pricing-table, stripe-buy-button')
    ));
    for (var i = 0; i < nodes.length; i++) {
      var el = nodes[i];
      if (!el.tagName) continue;
      var tag = el.tagName.toLowerCase();
      if (tag === "a" && el.href) {
        rewriteLink(el, ref);
      } else if ((tag === "stripe-pricing-table" || tag === "stripe-buy-button") &&
                 el.getAttribute("client-reference-id") !== ref) {
        el.setAttribute("client-reference-id", ref);
      }
    }
  }

  function applyAll() {
    try { apply(document.documentElement); } catch (e) {}
  }

  try {
    window.reditusBridge = { metadata: metadata, clientReferenceId: clientReferenceId, apply: applyAll };
    if (document.readyState === "loading") {
      document.addEventListener("DOMContentLoaded", applyAll);
    } else {
      applyAll();
    }
    // Reditus's own script may set the cookie after this one ran.
    window.addEventListener("load", applyAll);
    setTimeout(applyAll, 1000);
    if (window.MutationObserver) {
      new MutationObserver(function (mutations) {
        for (var i = 0; i < mutations.length; i++) {
          var m = mutations[i];
          if (m.type === "attributes") {
            apply(m.target);
          } else {
            for (var j = 0; j < m.addedNodes.length; j++) apply(m.addedNodes[j]);
          }
        }
      }).observe(document.documentElement, { childList: true, subtree: true, attributes: true, attributeFilter: ["href"] });
    }
  } catch (e) {}
})();
