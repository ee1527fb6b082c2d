"""Everything the demo needs, idempotent: the data, the admin user and weeks
of budget violation history. ``scripts/demo`` runs it on every start."""

from django.core.management.base import BaseCommand

from demo_site import history, seed


class Command(BaseCommand):
    help = (
        "Seed the demo: members, projects, comments, likes, courses, enrollments and "
        "badges (deterministic for a given --seed), the admin/admin superuser, and four "
        "weeks of budget violations. Data that is already there is kept unless --reset."
    )

    def add_arguments(self, parser):
        parser.add_argument("--seed", type=int, default=0, help="Random seed (default 0).")
        parser.add_argument(
            "--reset", action="store_true", help="Delete the demo data first and seed again."
        )
        parser.add_argument(
            "--no-history", action="store_true", help="Do not generate budget violations."
        )

    def handle(self, *args, **options):
        if options["reset"]:
            self._clear_cache()
            seed.clear()
            history.clear()
        if seed.has_data():
            self.stdout.write("Demo data: already there (--reset to seed again).")
        else:
            made = seed.seed(options["seed"])
            self.stdout.write(
                self.style.SUCCESS(
                    f"Demo data: {made.members} members, {made.projects} projects, "
                    f"{made.comments} comments, {made.likes} likes, {made.courses} courses, "
                    f"{made.enrollments} enrollments, {made.badges} badges."
                )
            )
        if seed.ensure_admin():
            self.stdout.write(
                self.style.SUCCESS(
                    f"Superuser: {seed.ADMIN_USERNAME} / {seed.ADMIN_PASSWORD} (demo only)."
                )
            )
        if options["no_history"] or not history.available():
            return
        if history.has_history():
            if not history.is_stale():
                self.stdout.write("Budget history: already there.")
                return
            self.stdout.write("Budget history: more than a day old, made again.")
            history.clear()
        made = history.generate(seed=options["seed"])
        self.stdout.write(
            self.style.SUCCESS(
                f"Budget history: {made.violations} violations over {made.days} days, "
                "from the slow pages' real numbers."
            )
        )

    def _clear_cache(self):
        # Only the demo's own keys: a REDIS_URL server may hold other data.
        from badges.progress import progress_key
        from django.contrib.auth import get_user_model
        from django.core.cache import cache

        ids = get_user_model().objects.values_list("pk", flat=True)
        cache.delete_many([progress_key(pk) for pk in ids])
