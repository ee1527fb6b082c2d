"""Query helpers the fixed pages share."""

from django.db.models import Count, IntegerField, OuterRef, Subquery
from django.db.models.functions import Coalesce


def count_per_row(model, field, **filters):
    """COUNT of ``model`` rows whose ``field`` is the outer row, as a subquery
    annotation (0 when there are none).

    One subquery per relation counted: the relations are never joined
    together, so they cannot multiply each other's rows, and no DISTINCT is
    needed.
    """
    rows = (
        model.objects.filter(**{field: OuterRef("pk")}, **filters)
        .order_by()
        .values(field)
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(rows, output_field=IntegerField()), 0)
