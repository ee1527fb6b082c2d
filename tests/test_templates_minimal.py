"""Every panel and admin template renders a finding of each kind with nothing but
its kind: a field missing from stored or older JSON never turns a page into a
500 (a filter argument that does not resolve raises VariableDoesNotExist)."""

import pytest
from django.template.loader import render_to_string

from ddt_perfpanels.analysis.cache import _FINDING_ORDER as CACHE_KINDS
from ddt_perfpanels.analysis.counts import KINDS as COUNT_KINDS

# One minimal finding per kind, for every list of findings a template reads.
MINIMAL = [{}] + [{"kind": kind} for kind in (*COUNT_KINDS, *CACHE_KINDS)]
STORED = (
    [{"source": "nplusone"}]
    + [{"source": "counts", "kind": kind} for kind in COUNT_KINDS]
    + [{"source": "cache", "kind": kind} for kind in CACHE_KINDS]
)

# Findings in a package's code: with a label of their own, or an empty one.
PACKAGES = [{}, {"third_party": {}}, {"path": "author", "third_party": {"fixable": True}}]

PANELS = {
    "nplusone": {
        "nplusone": MINIMAL + [{"third_party": {}}],
        "unused_eager": MINIMAL,
        "unused_notes": MINIMAL,
        "duplicate_loads": MINIMAL,
        "combined": ["x"],
        "packages": PACKAGES,
    },
    "counts": {
        "counts": MINIMAL + [{"third_party": {}}],
        "table": [{}],
        "per_row_queries": 1,
        "packages": PACKAGES,
    },
    "cache": {
        "cache": {
            "findings": MINIMAL,
            "patterns": [{}],
            "calls": [{}],
            "by_backend": [{}],
            "servers": [{}],
            "totals": {},
        }
    },
    "budget": {"rows": [{}], "fixes": STORED, "over": ["queries"], "limited": 1},
}


@pytest.mark.parametrize("name", PANELS)
def test_panel_templates_render_minimal_findings(name):
    html = render_to_string(f"ddt_perfpanels/panels/{name}.html", PANELS[name])
    # Every finding got its box.
    listed = {"nplusone": 3 * len(MINIMAL), "budget": len(STORED)}.get(name, len(MINIMAL))
    if "packages" in PANELS[name]:
        listed += len(PACKAGES)
    assert html.count('class="ddtpp-finding') >= listed


def test_budget_panel_with_an_access_site_but_no_origin():
    # The admin changelist case of issue 14: an N+1 in a list_display method.
    fixes = [{"source": "nplusone", "title": "N+1", "access_site": "admin.py:12 in author_name"}]
    html = render_to_string(
        "ddt_perfpanels/panels/budget.html", {"rows": [{}], "fixes": fixes, "limited": 1}
    )
    assert "admin.py:12 in author_name" in html


def test_violation_detail_renders_minimal_stored_findings():
    html = render_to_string(
        "ddt_perfpanels/admin/_violation_detail.html",
        {"budget_rows": [{}], "budget_fixes": STORED, "budget_light": False},
    )
    assert "Recorded findings" in html


@pytest.mark.django_db
def test_admin_pages_render_violations_with_empty_findings(admin_client):
    from ddt_perfpanels.models import BudgetViolation

    violation = BudgetViolation.objects.create(
        route="r",
        path="/r/",
        method="GET",
        status=200,
        worst_metric="queries",
        worst_ratio=2,
        over_count=1,
        nplusone=[{}, {"source": "nplusone"}],
        findings=STORED,
    )
    assert admin_client.get(
        f"/admin/ddt_perfpanels/budgetviolation/{violation.pk}/change/"
    ).status_code == 200
    assert admin_client.get("/admin/ddt_perfpanels/budgetviolation/").status_code == 200
    assert (
        admin_client.get("/admin/ddt_perfpanels/budgetviolation/dashboard/").status_code == 200
    )
