"""Loads the built-in dashboard (GET /) in headless Chromium while the test sends traffic,
waits until its charts have drawn data, and saves a screenshot.

Usage: dashboard.py BASE_URL SCREENSHOT.png
Prints one JSON object: points drawn per chart, the status and text of every stage tile,
the rows of the quality, dead-letter and model tables, the quality summary line, how the
throughput chart drew the accepted events (its scale; its newest and highest points as a
share of the plot's height), and the browser console's errors.
"""

import json
import re
import sys

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
CHARTS = ["throughput", "lag", "freshness", "latency", "errors", "ctr", "memory"]
# Charts that must show data once the server has had traffic.
MUST_DRAW = ["throughput", "freshness", "latency", "errors", "ctr", "memory"]


def points(driver, name):
    return int(driver.find_element(By.ID, "chart-" + name).get_attribute("data-points") or 0)


def lifts(path, height, top=8, bottom=18):
    """Heights of a path's points above the chart's baseline, as shares of the plot area
    (the margins are lineChart's T and B)."""
    ys = [float(y) for _, y in re.findall(r"[ML]([-\d.]+) ([-\d.]+)", path or "")]
    base, plot = height - bottom, height - top - bottom
    return [(base - y) / plot for y in ys]


def main(base, screenshot):
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
              "--window-size=1400,1500", "--no-first-run", "--disable-extensions"]:
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=opts)
    try:
        driver.get(base + "/")
        wait = WebDriverWait(driver, 40, poll_frequency=0.5)
        wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-loaded") == "true",
                   "the dashboard never loaded its data")
        # Lines of at least three samples (the server samples every two seconds).
        wait.until(lambda d: all(points(d, c) >= (1 if c == "ctr" else 3) for c in MUST_DRAW),
                   "charts stayed empty: " + json.dumps({c: points(driver, c) for c in CHARTS}))
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#quality table tr + tr"),
                   "the quality table stayed empty")
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#dead table tr + tr"),
                   "the dead-letter table stayed empty")
        # Read in one script each: the page redraws every two seconds, and elements found
        # by one WebDriver call may be replaced before the next.
        tiles = driver.execute_script(
            "const o = {}; document.querySelectorAll('.stage').forEach("
            "e => o[e.dataset.stage] = [e.dataset.status, e.querySelector('.detail').innerText]);"
            " const q = Array.from(document.querySelectorAll('#quality table tr + tr'),"
            "   tr => Array.from(tr.querySelectorAll('td'), td => td.innerText.trim()));"
            " return [o, q, document.getElementById('quality-summary').innerText];")
        stages = {k: v[0] for k, v in tiles[0].items()}
        details = {k: v[1] for k, v in tiles[0].items()}
        chart = driver.execute_script(
            "const svg = document.getElementById('chart-throughput');"
            " const p = svg.querySelector('path[data-series=accepted]');"
            " return [svg.dataset.scale, p ? p.getAttribute('d') : '',"
            "   Number(svg.getAttribute('viewBox').split(' ')[3])];")
        accepted = lifts(chart[1], chart[2])
        throughput = {"scale": chart[0],
                      "last_lift": accepted[-1] if accepted else None,
                      "peak_lift": max(accepted) if accepted else None}
        rows = lambda sel: driver.execute_script(
            "return Array.from(document.querySelectorAll(arguments[0] + ' table tr + tr'),"
            " tr => Array.from(tr.querySelectorAll('td'), td => td.innerText.trim()));", sel)
        drawn = {c: points(driver, c) for c in CHARTS}
        paths = {c: len(driver.find_elements(By.CSS_SELECTOR, "#chart-%s path, #chart-%s rect" % (c, c)))
                 for c in CHARTS}
        driver.save_screenshot(screenshot)
        errors = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        print(json.dumps({"points": drawn, "paths": paths, "stages": stages, "details": details,
                          "quality": tiles[1], "quality_summary": tiles[2],
                          "throughput": throughput, "dead_letters": rows("#dead"),
                          "models": rows("#models"), "console_errors": errors}))
    finally:
        driver.quit()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
