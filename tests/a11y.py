"""Accessibility checks in the browser tests: axe-core, from the axe-playwright-python wheel
(a dev dependency, so a fresh `make test` has it; nothing is downloaded at test time).

The site's Content-Security-Policy refuses script tags it did not serve, so axe's source is
evaluated through Playwright (the DevTools protocol, which the page's CSP does not govern)."""

from functools import cache
from importlib import resources

# What the checks fail on; "moderate" and "minor" findings are reported, not failed.
FAILING = ("critical", "serious")


@cache
def axe_source() -> str:
    return (resources.files("axe_playwright_python") / "axe.min.js").read_text(encoding="utf-8")


def axe_violations(page, impacts: tuple[str, ...] = FAILING) -> list[str]:
    """axe-core's WCAG 2.x A/AA (and best-practice) violations on the page as it is now, one
    line each: rule, impact, the first few offending elements."""
    if not page.evaluate("typeof window.axe === 'object'"):
        page.evaluate(axe_source())
    results = page.evaluate(
        "axe.run(document, {resultTypes: ['violations'], runOnly: {type: 'tag', values: "
        "['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice']}})"
    )
    found = []
    for rule in results["violations"]:
        if rule["impact"] not in impacts:
            continue
        targets = ", ".join(" ".join(map(str, n["target"])) for n in rule["nodes"][:4])
        found.append(f"{rule['id']} ({rule['impact']}, {len(rule['nodes'])}x): {targets}")
    return found
