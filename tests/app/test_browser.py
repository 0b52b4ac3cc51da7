"""End to end in a real headless Chromium: load the page, upload an image, pick a layer,
click a feature map, see its projection. Saves a screenshot."""
import os
import shutil
import tempfile
import threading

import numpy as np
import pytest
from PIL import Image

from conftest import write_tiny_checkpoint

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    not (os.path.exists(CHROMIUM) and os.path.exists(DRIVER)),
    reason="needs Debian's chromium and chromium-driver (make test installs them when it can)")]
SCREENSHOT_DIR = os.environ.get("ZFNET_SCREENSHOTS", os.path.join(tempfile.gettempdir(), "zfnet-screenshots"))


@pytest.fixture
def served(tmp_path):
    from werkzeug.serving import make_server
    from zfnet.app.server import create_app
    path, ds, _ = write_tiny_checkpoint(tmp_path / "final")
    app = create_app(path, dataset=ds)
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield "http://127.0.0.1:%d/" % srv.server_port, app
    srv.shutdown()
    app.explorer.close()  # no background compile left running into the next test


@pytest.fixture
def server(served):
    return served[0]


@pytest.fixture
def browser(tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
              "--disable-background-networking", "--disable-component-update", "--disable-sync",
              "--window-size=1280,900", "--user-data-dir=%s" % (tmp_path / "profile")):
        opts.add_argument(a)
    d = webdriver.Chrome(service=Service(DRIVER), options=opts)
    d.set_page_load_timeout(60)
    yield d
    d.quit()


def test_upload_pick_layer_click_map_see_projection(server, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import Select, WebDriverWait
    wait = WebDriverWait(browser, 60)
    browser.get(server)
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#samples img")) == 3)
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#maps figure")) > 0)
    assert "tiny" in browser.find_element(By.ID, "modelinfo").text

    img = np.zeros((30, 40, 3), np.uint8); img[10:20, 5:35] = (250, 200, 50)
    png = tmp_path / "upload.png"
    Image.fromarray(img).save(str(png))
    browser.find_element(By.ID, "upload").send_keys(str(png))
    wait.until(lambda d: "resized from 40x30" in d.find_element(By.ID, "note").text)
    assert "converted from RGB to grey" in browser.find_element(By.ID, "note").text
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#top5 li")) == 3)

    Select(browser.find_element(By.ID, "layer")).select_by_value("conv2")
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#maps figure")) == 6)
    Select(browser.find_element(By.ID, "method")).select_by_value("guided")
    fig = browser.find_elements(By.CSS_SELECTOR, "#maps figure")[1]
    wait.until(EC.element_to_be_clickable(fig)).click()
    wait.until(lambda d: (d.find_element(By.ID, "projection").get_attribute("src") or "")
               .startswith("data:image/png"))
    loaded = browser.execute_script(
        "const i = document.getElementById('projection'); return i.complete && i.naturalWidth;")
    assert loaded == 48  # 12 px at zoom 4, decoded by the browser
    assert "conv2 #" in browser.find_element(By.ID, "projinfo").text
    assert "guided" in browser.find_element(By.ID, "projinfo").text
    assert browser.find_element(By.ID, "error").text == ""

    browser.find_element(By.ID, "occlude").click()
    wait.until(lambda d: (d.find_element(By.ID, "occmap").get_attribute("src") or "").startswith("data:"))
    os.makedirs(SCREENSHOT_DIR, exist_ok=True)
    shot = os.path.join(SCREENSHOT_DIR, "explorer.png")
    assert browser.save_screenshot(shot)
    with Image.open(shot) as s:
        assert s.size[0] >= 1000
    print("screenshot:", shot)


def _broken_images(browser):
    """Images the page shows that failed to load (a visible img with a src and no pixels)."""
    return browser.execute_script(
        "return [...document.images].filter(i => i.getAttribute('src') && i.offsetParent !== null &&"
        " i.complete && i.naturalWidth === 0).map(i => i.id || i.alt);")


def test_each_state_of_the_page(served, browser):
    """First load (a hint, no broken images), while a projection is computed (a spinner), after
    the click (hint gone, projection shown, the dataset top-9 computed on demand with progress),
    after a layer change (the panes cleared). A screenshot of each state."""
    import time
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait
    url, app = served
    real = app.explorer.project

    def slow_project(*a, **k):  # so the waiting state can be seen
        time.sleep(2.0)
        return real(*a, **k)
    app.explorer.project = slow_project
    wait = WebDriverWait(browser, 60)
    os.makedirs(SCREENSHOT_DIR, exist_ok=True)
    browser.get(url)
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#maps figure")) > 0)
    assert browser.find_element(By.ID, "hint").is_displayed()
    assert "click a feature map" in browser.find_element(By.ID, "hint").text
    assert _broken_images(browser) == []
    assert not browser.find_element(By.ID, "projection").is_displayed()   # nothing to show yet
    assert browser.save_screenshot(os.path.join(SCREENSHOT_DIR, "state-1-first-load.png"))

    Select(browser.find_element(By.ID, "layer")).select_by_value("conv2")
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#maps figure")) == 6)
    browser.find_elements(By.CSS_SELECTOR, "#maps figure")[2].click()
    wait.until(lambda d: d.find_element(By.ID, "projbusy").is_displayed())
    assert not browser.find_element(By.ID, "hint").is_displayed()
    assert browser.save_screenshot(os.path.join(SCREENSHOT_DIR, "state-2-waiting.png"))

    wait.until(lambda d: (d.find_element(By.ID, "projection").get_attribute("src") or "").startswith("data:"))
    assert not browser.find_element(By.ID, "projbusy").is_displayed()
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#topk img")) == 18)  # computed on demand
    assert "strongest first" in browser.find_element(By.ID, "topkinfo").text
    assert _broken_images(browser) == [] and browser.find_element(By.ID, "error").text == ""
    assert browser.save_screenshot(os.path.join(SCREENSHOT_DIR, "state-3-after-click.png"))

    Select(browser.find_element(By.ID, "layer")).select_by_value("conv1")
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#maps figure")) == 4)
    assert not browser.find_element(By.ID, "projection").get_attribute("src")
    assert browser.find_elements(By.CSS_SELECTOR, "#topk img") == []
    for name in ("state-1-first-load", "state-2-waiting", "state-3-after-click"):
        with Image.open(os.path.join(SCREENSHOT_DIR, name + ".png")) as shot:
            assert shot.size[0] >= 1000
