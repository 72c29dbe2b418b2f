"""The screenshots the browser tests take for the docs: each one checked (what it claims to
show is on screen, and the picture is not blank), written to the run's temp folder, and copied
to `docs/screenshots/` only when asked (BACKOFFICE_UPDATE_SCREENSHOTS=1), so that a test run
never rewrites committed files."""

import base64
import os
import shutil
from pathlib import Path

from playwright.async_api import Locator, Page, expect

DOCS = Path(__file__).resolve().parents[1] / "docs" / "screenshots"
UPDATE_ENV = "BACKOFFICE_UPDATE_SCREENSHOTS"
# A page of text and widgets has hundreds of colours (anti-aliasing alone); a blank or
# half-loaded page a handful.
MIN_COLOURS = 24

# Counts the distinct colours of a PNG (up to 256), decoded by the browser itself.
_COLOURS_JS = """async (b64) => {
  const img = new Image();
  img.src = "data:image/png;base64," + b64;
  await img.decode();
  const canvas = document.createElement("canvas");
  canvas.width = img.width;
  canvas.height = img.height;
  const g = canvas.getContext("2d");
  g.drawImage(img, 0, 0);
  const d = g.getImageData(0, 0, canvas.width, canvas.height).data;
  const seen = new Set();
  for (let i = 0; i < d.length && seen.size < 256; i += 4) {
    seen.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]);
  }
  return seen.size;
}"""


class Screenshots:
    """Where a run's screenshots go; `capture` checks and writes one."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    async def capture(
        self, page: Page, name: str, *shows: Locator, full_page: bool = False
    ) -> Path:
        """Screenshot `page` once each of `shows` is visible in its viewport."""
        assert shows, f"{name}: say what the screenshot shows"
        for locator in shows:
            await expect(locator).to_be_visible()
            await expect(locator).to_be_in_viewport()
        png = await page.screenshot(full_page=full_page)
        colours = await colour_count(page, png)
        assert colours >= MIN_COLOURS, f"{name} is (nearly) blank: {colours} colours"
        path = self.folder / name
        path.write_bytes(png)
        if os.environ.get(UPDATE_ENV) == "1":
            DOCS.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, DOCS / name)
        return path


async def colour_count(page: Page, png: bytes) -> int:
    """How many colours the picture holds (counted up to 256), in a page of its own."""
    scratch = await page.context.new_page()
    try:
        return int(await scratch.evaluate(_COLOURS_JS, base64.b64encode(png).decode()))
    finally:
        await scratch.close()
