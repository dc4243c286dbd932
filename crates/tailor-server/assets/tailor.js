/* tailor.js: a dependency-free browser tracker and recommendation widget for Tailor.
 *
 *   tailor.init({host: "https://tailor.example.com", writeKey: "KEY"});
 *   tailor.page();
 *   tailor.productViewed({product_id: "P1", price: 9.5, category: "shoes"});
 *   tailor.recommend(document.getElementById("recs"), {surface: "product", itemId: "P1"});
 *
 * Events are Segment-format calls sent in batches to POST {host}/v1/batch. The queue is kept
 * in localStorage, so a reload or navigation does not lose events; a batch is retried with
 * exponential backoff on network errors, 5xx and 429 (Retry-After honoured) and dropped only
 * on other 4xx answers. Every event has a messageId, so a resent batch is not counted twice.
 */
(function (global) {
  "use strict";

  var VERSION = "0.1.0";
  var KEYS = { anon: "tailor.anonymousId", user: "tailor.userId", queue: "tailor.queue" };
  var MAX_QUEUE = 1000;        // oldest events dropped beyond this
  var MAX_BATCH = 100;         // events per request
  var KEEPALIVE_BYTES = 60000; // browsers cap keepalive bodies at 64 KiB
  var MAX_BACKOFF_MS = 60000;

  var script = document.currentScript;
  var cfg = {
    host: script && script.src ? new URL(script.src).origin : location.origin,
    writeKey: null, flushAt: 20, flushIntervalMs: 1000,
  };
  var queue = [];
  var timer = null;
  var sending = null;   // the promise of the request in flight
  var attempt = 0;      // failed attempts in a row
  var retryAt = 0;      // no send before this time (ms)
  var memory = {};      // storage of last resort

  // --- storage: localStorage, else a cookie, else memory -----------------------------------
  function load(key) {
    try { var v = localStorage.getItem(key); if (v !== null) return v; } catch (e) { /* blocked */ }
    var m = document.cookie.match(new RegExp("(?:^|; )" + key.replace(/\./g, "\\.") + "=([^;]*)"));
    if (m) return decodeURIComponent(m[1]);
    return key in memory ? memory[key] : null;
  }
  function save(key, value, cookieToo) {
    memory[key] = value;
    try { localStorage.setItem(key, value); return; } catch (e) { /* blocked or full */ }
    if (cookieToo) {
      document.cookie = key + "=" + encodeURIComponent(value) + "; path=/; max-age=31536000; SameSite=Lax";
    }
  }

  function uuid() {
    if (global.crypto && crypto.randomUUID) return crypto.randomUUID();
    var b = new Uint8Array(16);
    if (global.crypto && crypto.getRandomValues) crypto.getRandomValues(b);
    else for (var i = 0; i < 16; i++) b[i] = Math.floor(Math.random() * 256);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    var h = Array.prototype.map.call(b, function (x) { return (x + 0x100).toString(16).slice(1); }).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  }

  function anonymousId() {
    var id = load(KEYS.anon);
    if (!id) { id = uuid(); save(KEYS.anon, id, true); }
    return id;
  }
  function userId() { return load(KEYS.user) || null; }

  // --- the queue ---------------------------------------------------------------------------
  function persist() { save(KEYS.queue, JSON.stringify(queue), false); }

  function restore() {
    try {
      var saved = JSON.parse(load(KEYS.queue) || "[]");
      if (Array.isArray(saved)) queue = saved.concat(queue).slice(-MAX_QUEUE);
    } catch (e) { /* unreadable: start afresh */ }
  }

  function context() {
    return {
      library: { name: "tailor.js", version: VERSION },
      page: { path: location.pathname, url: location.href, title: document.title, referrer: document.referrer, search: location.search },
      userAgent: navigator.userAgent,
      locale: navigator.language,
    };
  }

  function enqueue(msg) {
    msg.messageId = uuid();
    msg.timestamp = new Date().toISOString();
    msg.anonymousId = anonymousId();
    var u = userId();
    if (u) msg.userId = u;
    msg.context = context();
    queue.push(msg);
    if (queue.length > MAX_QUEUE) queue.splice(0, queue.length - MAX_QUEUE);
    persist();
    if (queue.length >= cfg.flushAt) flush();
    return msg.messageId;
  }

  // --- sending -----------------------------------------------------------------------------
  function backoff(retryAfter) {
    attempt += 1;
    var secs = parseFloat(retryAfter);
    var wait = isFinite(secs) && secs >= 0 ? secs * 1000
      : Math.min(MAX_BACKOFF_MS, 500 * Math.pow(2, attempt - 1)) * (0.5 + Math.random() / 2);
    retryAt = Date.now() + wait;
  }

  function send(keepalive) {
    var n = Math.min(queue.length, MAX_BATCH);
    var body;
    for (;;) {
      body = JSON.stringify({ batch: queue.slice(0, n), writeKey: cfg.writeKey || undefined, sentAt: new Date().toISOString() });
      if (!keepalive || body.length <= KEEPALIVE_BYTES || n === 1) break;
      n = Math.ceil(n / 2);
    }
    var ids = queue.slice(0, n).map(function (m) { return m.messageId; });
    // text/plain keeps it a "simple" request: no CORS preflight.
    return fetch(cfg.host + "/v1/batch", {
      method: "POST", body: body, keepalive: !!keepalive, credentials: "omit",
      headers: { "Content-Type": "text/plain" },
    }).then(function (resp) {
      if (resp.ok || (resp.status >= 400 && resp.status < 500 && resp.status !== 429)) {
        if (!resp.ok) console.warn("tailor: batch dropped, the server answered " + resp.status);
        // Remove what was sent (events queued meanwhile stay).
        queue = queue.filter(function (m) { return ids.indexOf(m.messageId) < 0; });
        persist();
        attempt = 0;
        retryAt = 0;
        return resp.ok ? resp.json().then(function (a) {
          if (a && a.rejected && a.rejected.length) console.warn("tailor: events rejected", a.rejected);
          return true;
        }, function () { return true; }) : true;
      }
      backoff(resp.headers.get("Retry-After"));
      return false;
    }, function () { backoff(null); return false; });
  }

  /** Sends every queued event; resolves to true when the queue is empty, false when a
   *  send failed (it is retried later with backoff). */
  function flush(opts) {
    var keepalive = !!(opts && opts.keepalive);
    if (sending && !keepalive) return sending.then(function () { return flush(opts); });
    if (!queue.length) return Promise.resolve(true);
    if (Date.now() < retryAt && !keepalive && !(opts && opts.force)) return Promise.resolve(false);
    var p = send(keepalive).then(function (ok) {
      if (sending === p) sending = null;
      return ok && queue.length ? flush(opts) : ok && !queue.length;
    });
    if (!keepalive) sending = p;
    return p;
  }

  function tick() {
    if (queue.length && !sending && Date.now() >= retryAt) flush();
  }

  // Leaving the page: send what is queued with a request that outlives it.
  function onPageHide() { flush({ keepalive: true }); }
  function onVisibility() { if (document.visibilityState === "hidden") flush({ keepalive: true }); }

  // --- public calls ------------------------------------------------------------------------
  function init(options) {
    options = options || {};
    Object.keys(cfg).forEach(function (k) { if (options[k] !== undefined) cfg[k] = options[k]; });
    cfg.host = String(cfg.host).replace(/\/+$/, "");
    restore();
    anonymousId();
    if (timer) clearInterval(timer);
    timer = setInterval(tick, cfg.flushIntervalMs);
    global.addEventListener("pagehide", onPageHide);
    document.addEventListener("visibilitychange", onVisibility);
    if (queue.length) flush();
    return api;
  }

  function track(event, properties) {
    return enqueue({ type: "track", event: event, properties: properties || {} });
  }

  function page(name, properties) {
    var props = Object.assign({ path: location.pathname, url: location.href, title: document.title, referrer: document.referrer }, properties || {});
    return enqueue({ type: "page", name: name || undefined, properties: props });
  }

  function identify(id, traits) {
    if (id) save(KEYS.user, String(id), true);
    return enqueue({ type: "identify", traits: traits || {} });
  }

  function withRec(p, recId) { return recId ? Object.assign({}, p, { rec_id: recId }) : Object.assign({}, p); }

  // --- the recommendation widget -----------------------------------------------------------
  function getJSON(url) {
    // With API keys on, a write key created with `recommend` may read recommendations.
    var headers = cfg.writeKey ? { Authorization: "Bearer " + cfg.writeKey } : {};
    return fetch(url, { credentials: "omit", headers: headers }).then(function (r) {
      if (!r.ok) throw new Error(url + " answered " + r.status);
      return r.json();
    });
  }

  function esc(s) {
    return String(s).replace(/[&<>"']/g, function (c) { return "&#" + c.charCodeAt(0) + ";"; });
  }

  function defaultRender(items, answer, opts) {
    return '<ul class="tailor-recs">' + items.map(function (it) {
      var price = typeof it.price === "number" ? '<span class="tailor-price">' + it.price.toFixed(2) + "</span>" : "";
      return '<li><a href="' + esc(opts.href(it, answer.rec_id)) + '" data-tailor-item="' + esc(it.item_id) +
        '" data-position="' + it.position + '"><span class="tailor-title">' + esc(it.title || it.item_id) + "</span>" + price + "</a></li>";
    }).join("") + "</ul>";
  }

  /** Fetches recommendations into `el` and reports their impression and clicks.
   *  opts: {surface, itemId, k, category, render(items, answer, opts) -> HTML, href(item, recId)}.
   *  Resolves to the answer of /v1/recommendations with each item's catalog entry merged. */
  function recommend(el, opts) {
    opts = Object.assign({ surface: "home", k: 4, href: function (it) { return (it.properties && it.properties.url) || "#"; } }, opts || {});
    if (el._tailor) el._tailor.stop();
    var state = { stopped: false, stop: function () { state.stopped = true; if (state.io) state.io.disconnect(); el.removeEventListener("click", state.onClick); } };
    el._tailor = state;
    el.setAttribute("data-tailor-state", "loading");
    el.removeAttribute("data-tailor-impression");
    el.removeAttribute("data-tailor-rec-id");
    var q = new URLSearchParams({ surface: opts.surface, k: String(opts.k), anonymous_id: anonymousId() });
    if (userId()) q.set("user_id", userId());
    if (opts.itemId) q.set("item_id", opts.itemId);
    if (opts.category) q.set("category", opts.category);
    return getJSON(cfg.host + "/v1/recommendations?" + q).then(function (answer) {
      return Promise.all(answer.items.map(function (it) {
        return getJSON(cfg.host + "/v1/items/" + encodeURIComponent(it.item_id))
          .then(function (item) { return Object.assign({}, item, it); }, function () { return it; });
      })).then(function (items) {
        if (state.stopped) return answer;
        answer.items = items;
        el.setAttribute("data-tailor-rec-id", answer.rec_id);
        el.setAttribute("data-tailor-variant", answer.variant);
        el.setAttribute("data-tailor-model", answer.model);
        el.setAttribute("data-tailor-surface", answer.surface);
        el.innerHTML = (opts.render || defaultRender)(items, answer, opts);
        el.setAttribute("data-tailor-state", items.length ? "rendered" : "empty");
        if (!items.length) return answer;
        state.onClick = function (ev) {
          var a = ev.target.closest && ev.target.closest("[data-tailor-item]");
          if (!a || !el.contains(a)) return;
          var id = a.getAttribute("data-tailor-item");
          var it = items.filter(function (x) { return x.item_id === id; })[0] || {};
          // Queued (and persisted) before the browser follows the link.
          track("Product Clicked", { product_id: id, position: it.position, name: it.title, price: it.price, category: it.category, rec_id: answer.rec_id, list_id: answer.surface });
          flush({ keepalive: true });
        };
        el.addEventListener("click", state.onClick);
        var impression = function () {
          if (state.stopped || state.seen) return;
          state.seen = true;
          if (state.io) state.io.disconnect();
          track("Product List Viewed", {
            rec_id: answer.rec_id, list_id: answer.surface, model: answer.model, variant: answer.variant,
            products: items.map(function (x) { return { product_id: x.item_id, position: x.position }; }),
          });
          el.setAttribute("data-tailor-impression", "sent");
        };
        if ("IntersectionObserver" in global) {
          // Seen: half of it, or half a screen of it, is in view.
          state.io = new IntersectionObserver(function (entries) {
            if (entries.some(function (e) {
              return e.isIntersecting && (e.intersectionRatio >= 0.5 || e.intersectionRect.height >= global.innerHeight / 2);
            })) impression();
          }, { threshold: [0, 0.25, 0.5, 0.75, 1] });
          state.io.observe(el);
        } else impression();
        return answer;
      });
    }).catch(function (e) {
      if (!state.stopped) el.setAttribute("data-tailor-state", "error");
      console.warn("tailor: recommendations failed", e);
      throw e;
    });
  }

  var api = {
    VERSION: VERSION,
    init: init,
    page: page,
    track: track,
    identify: identify,
    flush: flush,
    recommend: recommend,
    anonymousId: anonymousId,
    userId: userId,
    reset: function () { save(KEYS.user, "", true); save(KEYS.anon, uuid(), true); },
    queued: function () { return queue.length; },
    productViewed: function (p) { return track("Product Viewed", withRec(p)); },
    productClicked: function (p, recId) { return track("Product Clicked", withRec(p, recId)); },
    productAdded: function (p, recId) { return track("Product Added", withRec(p, recId)); },
    orderCompleted: function (order) { return track("Order Completed", order); },
  };
  global.tailor = api;
})(window);
