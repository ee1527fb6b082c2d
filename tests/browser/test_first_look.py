"""What a new user meets first, in headless Chromium: our panels readable in the
toolbar's light and dark themes (contrast computed in the page), every demo page
with its code, the dashboard's trends as the README tells them, and layouts that
fit at 800, 1280 and 1920 px."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import demo

pytestmark = [pytest.mark.browser, pytest.mark.own_database]

# The WCAG contrast ratio of each element's text against the background it is
# drawn on: the element's own, or the first opaque one of its ancestors (through
# the toolbar's shadow root), with translucent layers composited.
CONTRAST = """
(elements) => {
  const parse = (css) => {
    const inside = css.match(/rgba?\\(([^)]*)\\)/)[1];
    const parts = inside.split(/[\\s,\\/]+/).filter(Boolean).map(Number);
    return [parts[0], parts[1], parts[2], parts.length > 3 ? parts[3] : 1];
  };
  const over = (top, bottom) =>
    [0, 1, 2].map((i) => top[i] * top[3] + bottom[i] * (1 - top[3])).concat([1]);
  const background = (element) => {
    const layers = [];
    for (let node = element; node; node = node.parentElement || node.getRootNode().host || null) {
      const colour = parse(getComputedStyle(node).backgroundColor);
      if (colour[3] > 0) { layers.push(colour); if (colour[3] >= 1) break; }
    }
    return layers.reverse().reduce((below, layer) => over(layer, below), [255, 255, 255, 1]);
  };
  const luminance = (c) => {
    const f = (v) => {
      v /= 255;
      return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
    };
    return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]);
  };
  return elements.map((element) => {
    const bg = background(element);
    const fg = over(parse(getComputedStyle(element).color), bg);
    const [light, dark] = [luminance(fg), luminance(bg)].sort((a, b) => b - a);
    const ratio = Math.round(((light + 0.05) / (dark + 0.05)) * 100) / 100;
    return [element.innerText.trim().slice(0, 50), ratio];
  });
}
"""

# Where each line of a name starts: a line may only start after ":", "_", "/"
# or "." (never inside a word).
MID_WORD_BREAKS = """
(codes) => codes.flatMap((code) => {
  const chars = [];
  const walker = document.createTreeWalker(code, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    for (let i = 0; i < node.length; i++) {
      const range = document.createRange();
      range.setStart(node, i);
      range.setEnd(node, i + 1);
      const rect = range.getBoundingClientRect();
      if (rect.width) chars.push([node.data[i], rect.top]);
    }
  }
  return chars.slice(1).flatMap(([c, top], i) =>
    top > chars[i][1] + 2 && !":_/.".includes(chars[i][0]) ? [code.textContent] : []);
})
"""


# (page, panel): each of our panels where it has findings with code to copy.
PANELS = [
    ("/projects/", "NPlusOnePanel"),
    ("/projects/", "CountsPanel"),
    ("/badges/", "CacheBreakdownPanel"),
    ("/projects/", "BudgetPanel"),
    # Where the fix goes: the class that owns the queryset, and its fix.
    ("/courses/api/enrollments/", "NPlusOnePanel"),
]
# What must be readable: the code boxes, the finding titles, the Copy buttons, and
# the text around them.
READABLE = {
    "code box": ".ddtpp-fix pre",
    "title": ".ddtpp-finding .ddtpp-head strong",
    "Copy button": "button.ddtpp-copy",
    "file:line": ".ddtpp-meta code",
    "summary": ".ddtpp-summary",
    "link": ".ddtpp details summary",
    "table cell": "td",
}


@pytest.fixture(params=["light", "toggle-theme", "prefers-dark"])
def themed_page(request, page):
    """A page in one theme: light; dark by the toolbar's Toggle Theme (from
    "auto" in a light OS); dark by the OS preference (the toolbar on "auto")."""
    page.emulate_media(color_scheme="dark" if request.param == "prefers-dark" else "light")
    page.theme = "light" if request.param == "light" else "dark"
    page.toggle = request.param == "toggle-theme"
    return page


@pytest.mark.parametrize(("path", "panel_id"), PANELS)
def test_panels_are_readable_in_each_theme(themed_page, demo_server, path, panel_id):
    page = themed_page
    page.goto(demo_server.url(path))
    if page.toggle:
        page.locator("#djToggleThemeButton").click()
    assert page.locator("#djDebug").get_attribute("data-theme") == page.theme
    panel = demo.open_panel(page, panel_id)

    for what, selector in READABLE.items():
        elements = panel.locator(selector)
        if what in ("code box", "title", "Copy button"):
            assert elements.count(), f"no {what} in {panel_id}"
        unreadable = [
            (text, ratio) for text, ratio in elements.evaluate_all(CONTRAST) if ratio < 4.5
        ]
        assert not unreadable, f"{what} in {panel_id} ({page.theme}): {unreadable[:5]}"


def test_long_fixes_wrap_inside_their_box(page, demo_server):
    page.goto(demo_server.url("/projects/"))
    panel = demo.open_panel(page, "CountsPanel")
    box = panel.locator(".ddtpp-fix pre", has_text="Coalesce(Subquery(")
    assert box.evaluate("(pre) => pre.scrollWidth <= pre.clientWidth")
    assert box.evaluate("(pre) => pre.getBoundingClientRect().height > 100")  # several lines


def test_cache_backends_table_fits_the_panel(page, demo_server):
    page.goto(demo_server.url("/badges/"))
    panel = demo.open_panel(page, "CacheBreakdownPanel")
    widths = panel.evaluate(
        "(content) => [content.querySelector('table').scrollWidth, content.clientWidth]"
    )
    assert widths[0] <= widths[1], widths
    backend = panel.locator("table").first.locator("td code")
    assert backend.evaluate_all(MID_WORD_BREAKS) == []


# -- the demo pages -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("/projects/", "def project_list("),
        ("/projects/fixed/", "def project_list_fixed("),
        ("/badges/", "def progress("),
        ("/badges/fixed/", "def progress_fixed("),
        ("/courses/", "def dashboard("),
        ("/courses/fixed/", "def dashboard_fixed("),
        ("/admin/courses/enrollment/", "class EnrollmentAdmin("),
        ("/admin/courses/enrollmentfixed/", "class EnrollmentFixedAdmin("),
        ("/courses/api/enrollments/", "class EnrollmentViewSet("),
        ("/courses/api/enrollments/fixed/", "class EnrollmentFixedViewSet("),
    ],
)
def test_every_demo_page_shows_its_code(admin_page, demo_server, path, code):
    page = admin_page
    page.goto(demo_server.url(path))
    block = page.locator("details.code")
    block.locator("summary", has_text="The code of this version").click()
    assert code in block.locator("pre").inner_text()


# -- the dashboard ------------------------------------------------------------------


def test_dashboard_trends_are_the_readmes(admin_page, demo_server):
    page = admin_page
    page.goto(demo_server.url("/dashboard/"))
    trends = {
        row.get_attribute("data-route"): re.search(
            r"worse|better|steady|new", row.locator("td.trend").inner_text()
        ).group()
        for row in page.locator("#ddtpp-routes-table tbody tr").all()
    }
    readme = {
        "projects:list": "worse",
        "courses:dashboard": "better",
        "badges:progress": "steady",
        "admin:courses_enrollment_changelist": "new",
    }
    # The pages other tests of the session opened (the REST API) add routes of their own.
    assert {route: trends.get(route) for route in readme} == readme


@pytest.mark.parametrize("width", [800, 1280, 1920])
def test_dashboard_fits_each_width(admin_page, demo_server, width):
    page = admin_page
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(demo_server.url("/dashboard/"))
    assert page.evaluate("() => document.documentElement.scrollWidth") <= width
    table_box = page.locator(".scroll", has=page.locator("#ddtpp-routes-table"))
    assert table_box.evaluate("(box) => box.scrollWidth <= box.clientWidth"), width
    routes = page.locator("#ddtpp-routes-table td.route code")
    # The four of the seeded history, and any other slow page a test opened.
    assert routes.count() >= 4
    assert routes.evaluate_all(MID_WORD_BREAKS) == []
    # The chart's text is drawn at 10 px or more.
    heights = page.locator("svg.ddtpp-chart text").evaluate_all(
        "(texts) => texts.map((t) => t.getBoundingClientRect().height)"
    )
    assert min(heights) >= 10, heights

