"""The report in a real browser (headless Chromium): every picture decodes, nothing is
fetched, and the tables, plots and pictures are in the rendered DOM.

Needs Debian's ``chromium`` (``apt-get install -y chromium``). Without it the test skips,
unless ``BSRBENCH_REQUIRE_BROWSER=1`` makes that a failure (as CI should).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from report_helpers import scenario

from bsrbench.report import write_report

# Counts images that did not decode and resources fetched over any URL (data: URIs are not
# resource entries), after the load event, into the title that --dump-dom shows.
PROBE = """<script>
window.addEventListener("load", () => {
  const imgs = Array.from(document.images);
  const broken = imgs.filter(i => !i.complete || i.naturalWidth === 0).length;
  const fetched = performance.getEntriesByType("resource").length;
  document.title = `probe images=${imgs.length} broken=${broken} fetched=${fetched}`;
});
</script>"""


def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None and Path("/usr/bin/chromium").is_file():
        path = "/usr/bin/chromium"
    if path is None:
        reason = ("chromium not installed (apt-get install -y chromium): the browser check of "
                  "the HTML report is skipped")
        if os.environ.get("BSRBENCH_REQUIRE_BROWSER") == "1":
            pytest.fail(reason + " (BSRBENCH_REQUIRE_BROWSER=1)")
        pytest.skip(reason)
    return path


def _browse(chromium: str, profile: Path, *args: str) -> str:
    cmd = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
           "--no-first-run", "--disable-background-networking", "--disable-component-update",
           "--disable-sync", "--disable-extensions", "--hide-scrollbars",
           "--host-resolver-rules=MAP * ~NOTFOUND",  # any network lookup fails
           f"--user-data-dir={profile}", *args]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.fixture
def report(tmp_path) -> Path:
    """The report of report_helpers.scenario's two run folders (with pictures)."""
    runs = scenario(tmp_path / "runs")
    return write_report([runs["bic"], runs["iter"]], tmp_path / "report.html")


def test_report_browser_renders_every_picture_offline(report, tmp_path):
    chromium = _chromium()
    probe = tmp_path / "probe.html"
    probe.write_text(report.read_text().replace("</body>", PROBE + "</body>"))
    dom = _browse(chromium, tmp_path / "profile1", "--virtual-time-budget=10000",
                  "--dump-dom", probe.as_uri())
    title = re.search(r"<title>probe images=(\d+) broken=(\d+) fetched=(\d+)</title>", dom)
    assert title, "the probe did not run: " + dom[:300]
    images, broken, fetched = map(int, title.groups())
    # 2 HR images: full HR, HR crop, LR crop, 3 finals, iterk's 3 steps; kernel pictures
    assert images >= 18 and broken == 0 and fetched == 0
    for anchor in ("headline", "sigma", "plots", "steps", "images", "meta"):
        assert f'id="{anchor}"' in dom
    assert dom.count("<table") >= 4 and '<svg class="plot"' in dom
    assert "oracle best step per image (chosen with the ground truth, not a result)" in dom


def test_report_browser_screenshot(report, tmp_path):
    chromium = _chromium()
    shot = tmp_path / "report.png"
    _browse(chromium, tmp_path / "profile2", f"--screenshot={shot}", "--window-size=1400,3000",
            report.as_uri())
    from PIL import Image

    with Image.open(shot) as img:
        assert img.size == (1400, 3000)
        lo, hi = img.convert("L").getextrema()
    assert hi - lo > 100  # not a blank page
