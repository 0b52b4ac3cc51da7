"""Screenshot of the explorer on a checkpoint, for the README:
    python scripts/explorer_screenshot.py CHECKPOINT OUT.png [--layer conv3] [--method deconvnet]
Serves CHECKPOINT on a free local port, drives headless Chromium through the page (first
sample, the layer, the strongest map, occlusion) and saves the window."""
import argparse
import os
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("checkpoint"); p.add_argument("out")
    p.add_argument("--layer", default="conv3"); p.add_argument("--method", default="deconvnet")
    a = p.parse_args()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait
    from werkzeug.serving import make_server
    from zfnet.app.server import create_app
    srv = make_server("127.0.0.1", 0, create_app(a.checkpoint), threaded=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--window-size=1280,1080",
                "--disable-background-networking", "--disable-component-update", "--disable-sync"):
        opts.add_argument(arg)
    d = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
    try:
        w = WebDriverWait(d, 120)
        d.get("http://127.0.0.1:%d/" % srv.server_port)
        w.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#maps figure"))
        Select(d.find_element(By.ID, "layer")).select_by_value(a.layer)
        Select(d.find_element(By.ID, "method")).select_by_value(a.method)
        w.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#maps figure"))
        d.find_elements(By.CSS_SELECTOR, "#maps figure")[0].click()
        w.until(lambda d: (d.find_element(By.ID, "projection").get_attribute("src") or "").startswith("data:"))
        w.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#topk img")) >= 9)  # computed on demand
        d.find_element(By.ID, "occlude").click()
        w.until(lambda d: (d.find_element(By.ID, "occmap").get_attribute("src") or "").startswith("data:"))
        d.save_screenshot(a.out)
        print("wrote", a.out)
    finally:
        d.quit(); srv.shutdown()


if __name__ == "__main__":
    main()
