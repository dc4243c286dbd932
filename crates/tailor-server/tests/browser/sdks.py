"""Drives the real browser SDKs, from their npm packages, against Tailor in headless Chromium.

Serves three pages from a static server of its own on 127.0.0.1 (another origin than
Tailor's, so every call is cross-origin):

- segment-npm: analytics-next's UMD build (dist/umd/index.js, what a bundler would import)
  with AnalyticsBrowser.load({writeKey, cdnURL}), the one option pointing it at Tailor;
- segment-snippet: Segment's snippet loading the self-hosted standalone build
  (dist/umd/standalone.js) with analytics._cdn set to Tailor;
- rudderstack: RudderStack's JavaScript SDK v3 (the bundled UMD build, which carries its
  plugins) loaded with Tailor as both dataPlaneUrl and configUrl.

Each page calls page, identify, track, group and alias and records the messageId of every
event it handed to the SDK; the script then waits until Tailor has processed them all.

Usage: sdks.py TAILOR_URL WRITE_KEY NODE_MODULES SCREENSHOT_DIR
Prints one JSON object: per page the ids sent, the SDK's delivery errors and the browser's
console errors; and "processed", Tailor's events_processed at the end.
"""

import json
import os
import sys
import threading
import time
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"

# The calls every page makes, by SDK API (the same user journey).
CALLS = """
  [ 'page', ['Docs', 'Home', {url_path: '/docs'}] ],
  [ 'identify', [USER, {plan: 'pro', email: null}] ],
  [ 'track', ['Product Viewed', {product_id: ITEM + '-1', category: 'web', price: 3.5}] ],
  [ 'track', ['Product Viewed', {product_id: ITEM + '-2', category: 'web', price: 4.5}] ],
  [ 'track', ['Order Completed', {order_id: USER + '-o', revenue: 3.5,
              products: [{product_id: ITEM + '-1', quantity: 1, price: 3.5}]}] ],
  [ 'group', [USER + '-team', {name: 'Team'}] ],
  [ 'alias', [USER + '-alias'] ],
"""

COMMON = """
const params = new URLSearchParams(location.search);
const TAILOR = params.get('tailor'), KEY = params.get('key');
const USER = params.get('user'), ITEM = params.get('item');
window.__sent = []; window.__errors = []; window.__done = false;
"""

SEGMENT_NPM = """<!doctype html><html><head><link rel="icon" href="data:,"><title>analytics-next (npm build)</title>
<script src="/sdk/analytics-next/index.js"></script></head><body><h1>analytics-next npm</h1>
<script>
COMMON
// The one option that points analytics-next at Tailor: cdnURL.
const analytics = AnalyticsNext.AnalyticsBrowser.load({writeKey: KEY, cdnURL: TAILOR});
analytics.addSourceMiddleware(({payload, next}) => {
  window.__sent.push(payload.obj.messageId); next(payload);
});
analytics.on('error', (e) => window.__errors.push(String(e && (e.reason || e.code) || e)));
(async () => {
  for (const [method, args] of [CALLS]) {
    const ctx = await analytics[method](...args);
    if (ctx.failedDelivery()) window.__errors.push(method + ': ' + ctx.failedDelivery().reason);
  }
  window.__done = true;
})().catch((e) => { window.__errors.push(String(e)); window.__done = true; });
</script></body></html>"""

# Segment's snippet (its method stubs and loader), with the two changes a self-hosted
# analytics.js needs: the script's src and analytics._cdn.
SEGMENT_SNIPPET = """<!doctype html><html><head><link rel="icon" href="data:,"><title>analytics.js snippet</title><script>
COMMON
!function(){var i="analytics",analytics=window[i]=window[i]||[];if(!analytics.initialize)
if(analytics.invoked)window.console&&console.error&&console.error("Segment snippet included twice.");
else{analytics.invoked=!0;analytics.methods=["trackSubmit","trackClick","trackLink","trackForm",
"pageview","identify","reset","group","track","ready","alias","debug","page","screen","once","off",
"on","addSourceMiddleware","addIntegrationMiddleware","setAnonymousId","addDestinationMiddleware",
"register"];analytics.factory=function(e){return function(){if(window[i].initialized)
return window[i][e].apply(window[i],arguments);var n=Array.prototype.slice.call(arguments);
if(["track","screen","alias","group","page","identify"].indexOf(e)>-1){var c=document.querySelector(
"link[rel='canonical']");n.push({__t:"bpc",c:c&&c.getAttribute("href")||void 0,p:location.pathname,
u:location.href,s:location.search,t:document.title,r:document.referrer})}n.unshift(e);
analytics.push(n);return analytics}};for(var n=0;n<analytics.methods.length;n++){
var key=analytics.methods[n];analytics[key]=analytics.factory(key)}analytics.load=function(key,n){
var t=document.createElement("script");t.type="text/javascript";t.async=!0;
t.setAttribute("data-global-segment-analytics-key",i);
t.src="/sdk/analytics-next/standalone.js";
var r=document.getElementsByTagName("script")[0];r.parentNode.insertBefore(t,r);
analytics._loadOptions=n};analytics._writeKey=KEY;
analytics._cdn=TAILOR;
analytics.SNIPPET_VERSION="5.2.0";analytics.load(KEY);}}();
</script>
<script>
analytics.addSourceMiddleware(({payload, next}) => {
  window.__sent.push(payload.obj.messageId); next(payload);
});
analytics.on('error', (e) => window.__errors.push(String(e && (e.reason || e.code) || e)));
analytics.ready(async () => {
  try {
    for (const [method, args] of [CALLS]) {
      const ctx = await window.analytics[method](...args);
      if (ctx.failedDelivery()) window.__errors.push(method + ': ' + ctx.failedDelivery().reason);
    }
  } catch (e) { window.__errors.push(String(e)); }
  window.__done = true;
});
</script></head><body><h1>analytics.js snippet</h1></body></html>"""

RUDDERSTACK = """<!doctype html><html><head><link rel="icon" href="data:,"><title>RudderStack JS SDK v3</title>
<script src="/sdk/rudderstack/index.js"></script></head><body><h1>RudderStack</h1>
<script>
COMMON
const ra = new rudderanalytics.RudderAnalytics();
// Tailor is both the data plane and the control plane the SDK reads its source config from.
ra.load(KEY, TAILOR, {configUrl: TAILOR, logLevel: 'ERROR',
  onLoaded: () => {}});
ra.ready(() => {
  for (const [method, args] of [CALLS]) {
    ra[method](...args, (event) => window.__sent.push(event.messageId));
  }
  window.__done = true;
});
</script></body></html>"""

# What the static server serves from the npm packages: the URL path and the file.
BUNDLES = {
    "/sdk/analytics-next/index.js": "@segment/analytics-next/dist/umd/index.js",
    "/sdk/analytics-next/standalone.js": "@segment/analytics-next/dist/umd/standalone.js",
    "/sdk/rudderstack/index.js": "@rudderstack/analytics-js/dist/npm/modern/bundled/umd/index.js",
}


def page(template):
    return (template.replace("COMMON", COMMON).replace("[CALLS]", "[" + CALLS + "]")
            .encode())


PAGES = {
    "/segment-npm.html": page(SEGMENT_NPM),
    "/segment-snippet.html": page(SEGMENT_SNIPPET),
    "/rudderstack.html": page(RUDDERSTACK),
}


def static_server(node_modules):
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            path = self.path.split("?", 1)[0]
            if path in PAGES:
                body, kind = PAGES[path], "text/html; charset=utf-8"
            elif path in BUNDLES:
                with open(os.path.join(node_modules, BUNDLES[path]), "rb") as f:
                    body, kind = f.read(), "application/javascript; charset=utf-8"
            else:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def processed(tailor):
    with urllib.request.urlopen(tailor + "/v1/status", timeout=5) as r:
        return json.load(r)["live"]["events_processed"]


def main(tailor, key, node_modules, shots):
    server = static_server(node_modules)
    origin = "http://127.0.0.1:%d" % server.server_address[1]
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
              "--window-size=1000,700", "--no-first-run", "--disable-extensions"]:
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(20)
    driver.set_script_timeout(20)
    wait = WebDriverWait(driver, 20)
    run, total = {}, 0
    try:
        for name in ["segment-npm", "segment-snippet", "rudderstack"]:
            query = urllib.parse.urlencode({"tailor": tailor, "key": key,
                                            "user": "web-" + name, "item": "WEB-" + name})
            driver.get("%s/%s.html?%s" % (origin, name, query))
            try:
                wait.until(lambda d: d.execute_script("return window.__done === true"),
                           name + " never finished its calls")
                sent = driver.execute_script("return window.__sent")
                total += len(sent)
                # The page is left open until Tailor has every event it sent.
                deadline = time.monotonic() + 20
                while processed(tailor) < total and time.monotonic() < deadline:
                    time.sleep(0.1)
            finally:
                driver.save_screenshot(os.path.join(shots, "sdk-%s.png" % name))
            run[name] = {
                "sent": sent,
                "errors": driver.execute_script("return window.__errors"),
                "console_errors": [e for e in driver.get_log("browser")
                                   if e.get("level") == "SEVERE"],
            }
        run["processed"] = processed(tailor)
        print(json.dumps(run))
    finally:
        driver.quit()
        server.shutdown()


if __name__ == "__main__":
    main(*sys.argv[1:5])
