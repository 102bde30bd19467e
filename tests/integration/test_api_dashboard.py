"""The dashboard in headless Chromium (Debian's chromium + chromium-driver, driven by selenium).

Screenshots are kept as test artefacts under ``$PYCR_TEST_ARTEFACTS`` (default
``/tmp/pycr-test-artefacts/dashboard``).
"""

from __future__ import annotations

import http.server
import json
import os
import threading
import time
import urllib.error
import urllib.request

import pytest

from tests.helpers.api import serving

pytestmark = pytest.mark.root
webdriver = pytest.importorskip("selenium.webdriver")
ARTEFACTS = os.path.join(os.environ.get("PYCR_TEST_ARTEFACTS", "/tmp/pycr-test-artefacts"), "dashboard")


@pytest.fixture(scope="module")
def dash(manage):
    for tool in ("/usr/bin/chromium", "/usr/bin/chromedriver"):
        if not os.path.exists(tool):
            pytest.fail(f"missing {tool} (apt-get install chromium chromium-driver)")
    with serving(manage, ui=True) as a:
        yield a


@pytest.fixture
def browser(tmp_path):
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    opts = Options()
    opts.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1300,900"):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def _until(fn, timeout=30, what=""):
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = fn()
        except Exception:  # the page is re-rendering the row
            value = None
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def _row(driver, name):
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, f'#containers tr[data-name="{name}"]')


def _click(driver, name, action):
    from selenium.webdriver.common.by import By

    _until(lambda: _row(driver, name).find_element(By.CSS_SELECTOR, f'button[data-action="{action}"]').click()
           or True, what=f"{action} button of {name}")


def _state(driver, name):
    from selenium.webdriver.common.by import By

    return _row(driver, name).find_element(By.CSS_SELECTOR, 'td[data-role="state"]').text


def _shot(driver, name):
    os.makedirs(ARTEFACTS, exist_ok=True)
    path = os.path.join(ARTEFACTS, name)
    driver.save_screenshot(path)
    assert os.path.getsize(path) > 1000
    return path


def test_dashboard_lists_acts_and_follows_logs(dash, clean, browser):
    from selenium.webdriver.common.by import By

    dash.docker("run", "-d", "--name", "dash1", dash.manage.image, "sh", "-c",
                "i=0; while true; do echo line-$i; i=$((i+1)); sleep 0.3; done", check=0)
    browser.get(dash.url)  # the printed link: trades the token for a cookie, redirects to /
    assert browser.current_url == dash.base + "/"
    _until(lambda: _state(browser, "dash1") == "running", what="dash1 running")
    assert dash.manage.image in _row(browser, "dash1").text
    _shot(browser, "1-list.png")

    _click(browser, "dash1", "logs")
    logs = browser.find_element(By.ID, "logs")
    _until(lambda: "line-3" in logs.text, what="logs")
    seen = logs.text.count("line-")
    _until(lambda: logs.text.count("line-") >= seen + 3, what="new log lines arriving live")
    _shot(browser, "2-logs.png")

    _click(browser, "dash1", "shell")  # a shell in the container, in the page
    term = browser.find_element(By.ID, "term")
    _until(lambda: "# " in term.text, what="the shell's prompt")
    box = browser.find_element(By.ID, "term-input")
    box.send_keys("echo $((6*7)) $(stty size)\n")
    _until(lambda: "42 24 100" in term.text, what="the command's output")
    _shot(browser, "2b-shell.png")
    box.send_keys("exit\n")
    _until(lambda: "[session ended]" in term.text, what="the shell to end")

    _click(browser, "dash1", "stop")
    _until(lambda: _state(browser, "dash1") == "exited", what="dash1 exited")
    assert dash.manage.state("dash1") == "exited"
    _shot(browser, "3-stopped.png")
    _click(browser, "dash1", "start")
    _until(lambda: _state(browser, "dash1") == "running", what="dash1 running again")
    assert dash.manage.state("dash1") == "running"
    _click(browser, "dash1", "remove")
    _until(lambda: not browser.find_elements(By.CSS_SELECTOR, '#containers tr[data-name="dash1"]'),
           what="dash1 gone")
    assert dash.manage.ps() == []
    assert dash.manage.image in browser.find_element(By.ID, "images").text
    _shot(browser, "4-removed.png")


class _Evil(http.server.BaseHTTPRequestHandler):
    target = ""

    def do_GET(self):
        page = (f'<form id="f" method="POST" action="{self.target}"></form>'
                '<script>document.getElementById("f").submit()</script>').encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(page)))
        self.end_headers()
        self.wfile.write(page)

    def log_message(self, *args):
        pass


def test_no_token_and_cross_site_posts_are_refused(dash, clean, browser):
    cid = dash.docker("run", "-d", "--name", "victim", dash.manage.image, "sleep", "1000", check=0).stdout.strip()
    for url, data in ((f"{dash.base}/ui/containers", None), (f"{dash.base}/", None),
                      (f"{dash.base}/?token=wrong", None), (f"{dash.base}/ui/containers/{cid}/remove", b"")):
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(urllib.request.Request(url, data=data, headers={"X-Pycr-UI": "1"}), timeout=30)
        assert e.value.code == 401 and "token" in json.loads(e.value.read())["message"]
    token = dash.url.split("token=")[1]
    # the token, but a foreign Origin or no X-Pycr-UI header: refused
    ws = urllib.request.Request(f"{dash.base}/ui/containers/{cid}/terminal", headers={
        "Cookie": f"pycr_ui={token}", "Origin": "http://evil.example", "Connection": "Upgrade",
        "Upgrade": "websocket", "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(ws, timeout=30)
    assert e.value.code == 403 and "cross-site websocket" in json.loads(e.value.read())["message"]
    for headers in ({"Cookie": f"pycr_ui={token}", "X-Pycr-UI": "1", "Origin": "http://evil.example"},
                    {"Cookie": f"pycr_ui={token}"}):
        req = urllib.request.Request(f"{dash.base}/ui/containers/{cid}/remove", data=b"", headers=headers)
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req, timeout=30)
        assert e.value.code == 403
    # a logged-in browser visiting a hostile page that posts a form to the dashboard
    browser.get(dash.url)
    _until(lambda: _state(browser, "victim") == "running", what="victim listed")
    _Evil.target = f"{dash.base}/ui/containers/{cid}/remove"
    evil = http.server.HTTPServer(("127.0.0.2", 0), _Evil)
    threading.Thread(target=evil.serve_forever, daemon=True).start()
    try:
        browser.get(f"http://127.0.0.2:{evil.server_port}/")
        _until(lambda: "cross-site request refused" in browser.page_source or "token" in browser.page_source,
               what="the forged post answered")
        _shot(browser, "5-cross-site-refused.png")
    finally:
        evil.shutdown()
        evil.server_close()
    assert dash.manage.state("victim") == "running"
    dash.docker("rm", "-f", "victim", check=0)


@pytest.fixture(scope="module")
def bench_dash(manage, tmp_path_factory):
    """A dashboard over a bench directory holding one real ``pycr bench`` result, a directory that is
    not a result, and planted links out of it (a result that is a link to /etc, a plot that is a link
    to /etc/shadow)."""
    import subprocess

    from tests.conftest import PYCR

    root = tmp_path_factory.mktemp("bench")
    r = subprocess.run([PYCR, "bench", "--repeat", "2", "--warmup", "0", "-s", "pycr-v1-pivot", "-s", "runc", "-w",
                        "true", "-o", str(root / "run-true")], capture_output=True, text=True, timeout=300,
                       env=manage.env)
    assert r.returncode == 0, r.stderr
    os.makedirs(root / "notes")
    os.symlink("/etc", root / "linked")
    os.makedirs(root / "hostile")
    with open(root / "hostile" / "results.json", "w") as f:
        f.write("{}")
    os.symlink("/etc/shadow", root / "hostile" / "plot_shadow.png")
    os.symlink("/etc/passwd", root / "hostile" / "summary.txt")
    with serving(manage, ["--bench-dir", str(root)], ui=True) as a:
        a.bench_root, a.token = root, a.url.split("token=")[1]
        yield a


def _get(a, path):
    req = urllib.request.Request(a.base + path, headers={"Authorization": f"Bearer {a.token}"})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.headers.get("Content-Type"), resp.read()
    except urllib.error.HTTPError as e:
        return e.code, None, e.read()


def test_bench_results_and_plots_in_the_browser(bench_dash, browser):
    from selenium.webdriver.common.by import By

    browser.get(bench_dash.url)
    section = _until(lambda: browser.find_element(By.CSS_SELECTOR, '.bench-result[data-name="run-true"]'),
                     what="the bench result")
    assert "times slower than" in section.find_element(By.TAG_NAME, "pre").text  # summary.txt, as written
    img = section.find_element(By.TAG_NAME, "img")
    assert img.get_attribute("src").endswith("/ui/bench/run-true/plot_true.png")
    _until(lambda: browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth", img) > 100,
           what="the plot to load and decode")
    names = [e.get_attribute("data-name") for e in browser.find_elements(By.CSS_SELECTOR, ".bench-result")]
    assert names == ["hostile", "run-true"] or names == ["run-true", "hostile"]  # not notes/, not the link
    hostile = browser.find_element(By.CSS_SELECTOR, '.bench-result[data-name="hostile"]')
    assert "root:" not in hostile.text and hostile.find_elements(By.TAG_NAME, "img") == []
    browser.execute_script("arguments[0].scrollIntoView()", section)
    _shot(browser, "5-bench.png")


def test_bench_paths_cannot_leave_the_bench_dir(bench_dash):
    status, ctype, body = _get(bench_dash, "/ui/bench/run-true/plot_true.png")
    assert status == 200 and ctype == "image/png" and body.startswith(b"\x89PNG")
    listing = json.loads(_get(bench_dash, "/ui/bench")[2])
    assert listing["dir"] == os.path.realpath(bench_dash.bench_root)
    for path in ("/ui/bench/hostile/plot_shadow.png", "/ui/bench/linked/plot_true.png",
                 "/ui/bench/..%2F..%2Fetc/plot_x.png", "/ui/bench/run-true/..%2Fresults.json",
                 "/ui/bench/run-true/results.json", "/ui/bench/run-true/%2E%2E", "/ui/bench/../../etc/passwd",
                 "/ui/bench/%2E%2E/plot_true.png"):
        status, _, body = _get(bench_dash, path)
        assert status == 404 and b"root:" not in body, (path, status, body)
    req = urllib.request.Request(bench_dash.base + "/ui/bench/run-true/plot_true.png")  # no token
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=30)
    assert e.value.code == 401
