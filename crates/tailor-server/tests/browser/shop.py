"""Drives the demo shop in headless Chromium: browses two products, adds one to the cart,
clicks a recommendation of the cart page's widget and flushes tailor.js's queue.

Usage: shop.py BASE_URL SCREENSHOT.png
Prints one JSON object: the anonymous id, the products viewed, every recommendation list
whose impression the page reported (surface, rec_id, variant, model) and the click.
"""

import json
import sys

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def main(base, screenshot):
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
              "--window-size=1280,1000", "--no-first-run", "--disable-extensions"]:
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # An explicit driver path: selenium-manager downloads nothing.
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=opts)
    wait = WebDriverWait(driver, 20)
    lists, viewed = [], []

    def widget_reported(el_id):
        """Waits until the widget rendered and reported its impression; records the list."""
        el = driver.find_element(By.ID, el_id)
        seen = {rec["rec_id"] for rec in lists}
        wait.until(lambda d: el.get_attribute("data-tailor-state") == "rendered"
                   and el.get_attribute("data-tailor-rec-id") not in seen,
                   f"#{el_id} shows no new recommendations")
        # The shopper scrolls to it: the impression is reported once it is in view.
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", el)
        wait.until(lambda d: el.get_attribute("data-tailor-impression") == "sent",
                   f"#{el_id} reported no impression")
        rec = {a: el.get_attribute("data-tailor-" + a)
               for a in ["surface", "rec-id", "variant", "model"]}
        rec["rec_id"] = rec.pop("rec-id")
        rec["items"] = [a.get_attribute("data-tailor-item")
                        for a in el.find_elements(By.CSS_SELECTOR, "[data-tailor-item]")]
        assert rec["items"], f"#{el_id} rendered no item"
        lists.append(rec)
        return el, rec

    def open_product(card):
        pid = card.get_attribute("data-product-id") or card.get_attribute("data-tailor-item")
        card.click()
        wait.until(lambda d: d.find_element(By.ID, "product").get_attribute("data-product-id") == pid)
        viewed.append(pid)
        widget_reported("recs-product")
        return pid

    try:
        driver.get(base + "/demo/shop")
        wait.until(lambda d: d.execute_script("return !!window.tailor"), "tailor.js not loaded")
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, ".product-card"), "no product listed")
        widget_reported("recs-home")
        # Browse two products from the product list (going back home in between).
        cards = driver.find_elements(By.CSS_SELECTOR, ".product-card")
        open_product(cards[0])
        driver.find_element(By.CSS_SELECTOR, "a.brand").click()
        widget_reported("recs-home")
        second = open_product(driver.find_elements(By.CSS_SELECTOR, ".product-card")[1])
        driver.find_element(By.ID, "add-to-cart").click()
        wait.until(lambda d: d.find_element(By.ID, "cart-count").text == "1")
        # The cart page's widget: click its first recommendation.
        driver.find_element(By.ID, "cart-link").click()
        cart_el, cart_rec = widget_reported("recs-cart")
        target = cart_el.find_element(By.CSS_SELECTOR, "[data-tailor-item]")
        clicked = {"surface": cart_rec["surface"], "rec_id": cart_rec["rec_id"],
                   "variant": cart_rec["variant"], "model": cart_rec["model"],
                   "item_id": target.get_attribute("data-tailor-item"),
                   "position": int(target.get_attribute("data-position"))}
        open_product(target)
        sent = driver.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "tailor.flush().then(done, (e) => done('error: ' + e));")
        assert sent is True, f"tailor.flush() answered {sent!r}"
        assert driver.execute_script("return tailor.queued()") == 0
        driver.set_window_size(1280, 1350)
        driver.execute_script("window.scrollTo(0, 0)")
        driver.save_screenshot(screenshot)
        anon = driver.execute_script("return tailor.anonymousId()")
        logs = [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]
        print(json.dumps({"anonymous_id": anon, "viewed": viewed, "added": second,
                          "lists": lists, "clicked": clicked, "console_errors": logs}))
    except Exception:
        try:
            driver.save_screenshot(screenshot)
        except Exception:  # the original error matters more
            pass
        raise
    finally:
        driver.quit()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
