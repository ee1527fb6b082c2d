"""Realistic demo data, the same on every run for a given seed."""

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from badges.models import Badge
from courses.models import Course, Enrollment
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.db import transaction
from projects.models import Comment, Like, Project, Sector, Tag

# Dates count back from here, so that the data does not depend on the day.
ANCHOR = datetime(2025, 6, 2, 9, 0, tzinfo=UTC)

ADMIN_USERNAME = "admin"
ADMIN_PASSWORD = "admin"  # for the demo only; the README says so

FIRST = """Alice Bruno Chloe Dmitri Elena Farid Grace Hiro Ines Jonas Kemal Lena Mateo Nadia
Oskar Priya Quentin Rosa Samir Tara Umar Vera Wen Ximena Yusuf Zoe Amara Bjorn Carmen Dev""".split()
LAST = """Martin Okafor Dubois Ivanova Rossi Haddad Kim Tanaka Silva Berg Yilmaz Novak Garcia
Petrov Lindqvist Sharma Moreau Costa Nasser Walsh Khan Horvat Li Ramirez Demir Fischer""".split()
SECTORS = """Climate Education Fintech Health Logistics Media Mobility Open-source Retail
Security""".split()
TAGS = """python django postgres redis api mobile ml data-viz iot accessibility
open-data payments maps search realtime privacy devops testing ui hardware
community energy agriculture nonprofit""".split()
WORDS = """Smart Open Tiny Green Rapid Shared Local Civic Quiet Bright Secure Simple
Atlas Beacon Compass Harbor Lantern Orbit Pulse Relay Sprout Tandem Vector Willow""".split()
KINDS = """tracker planner marketplace dashboard toolkit assistant map registry
exchange monitor portal scheduler""".split()
COURSES = [
    ("Django for Beginners", "49.00"),
    ("Advanced Django ORM", "89.00"),
    ("PostgreSQL Performance", "99.00"),
    ("Caching with Redis", "59.00"),
    ("Testing Django Apps", "69.00"),
    ("REST APIs with Django", "79.00"),
    ("Async Python", "79.00"),
    ("Celery and Background Jobs", "59.00"),
    ("Deploying Django", "49.00"),
    ("Security for Web Developers", "89.00"),
    ("Data Modelling", "69.00"),
    ("Query Optimisation Clinic", "129.00"),
    ("Frontend for Backend Developers", "39.00"),
    ("Observability 101", "59.00"),
    ("Python Packaging", "29.00"),
    ("Type Hints in Practice", "39.00"),
    ("Search with PostgreSQL", "79.00"),
    ("Django Admin Deep Dive", "49.00"),
]
BADGES = [
    ("First project", "projects", 1),
    ("Builder", "projects", 5),
    ("Prolific", "projects", 10),
    ("First words", "comments", 1),
    ("Commenter", "comments", 25),
    ("Conversationalist", "comments", 60),
    ("Fan", "likes", 10),
    ("Superfan", "likes", 60),
    ("Student", "courses_completed", 1),
    ("Scholar", "courses_completed", 3),
]
COMMENTS = [
    "Love the idea, how do you handle offline mode?",
    "The onboarding is really smooth.",
    "Have you considered open-sourcing the data model?",
    "This would be great for our city.",
    "Nice! Which database do you use?",
    "Could you share the roadmap?",
    "Great demo at the meetup yesterday.",
    "The charts load slowly on my phone.",
    "Happy to help with translations.",
    "How do you plan to fund it?",
]


@dataclass
class Seeded:
    members: int
    projects: int
    comments: int
    likes: int
    courses: int
    enrollments: int
    badges: int


def has_data() -> bool:
    return Project.objects.exists()


def clear() -> None:
    """Delete the demo's data (not the admin user, not budget violations)."""
    with transaction.atomic():
        for model in (Enrollment, Course, Like, Comment, Project, Tag, Sector, Badge):
            model.objects.all().delete()
        get_user_model().objects.filter(is_staff=False).delete()


def ensure_admin() -> bool:
    """The demo's superuser, admin / admin. True if it was created."""
    User = get_user_model()
    if User.objects.filter(username=ADMIN_USERNAME).exists():
        return False
    User.objects.create(
        username=ADMIN_USERNAME,
        email="admin@example.com",
        password=make_password(ADMIN_PASSWORD),
        is_staff=True,
        is_superuser=True,
    )
    return True


def seed(seed: int = 0, members: int = 80, projects: int = 320) -> Seeded:
    rng = random.Random(seed)
    with transaction.atomic():
        users = _members(rng, members)
        sectors = Sector.objects.bulk_create(Sector(name=n.replace("-", " ")) for n in SECTORS)
        tags = Tag.objects.bulk_create(Tag(name=n) for n in TAGS)
        made = _projects(rng, users, sectors, tags, projects)
        comments, likes = _reactions(rng, users, made)
        courses, enrollments = _courses(rng, users)
        badges = Badge.objects.bulk_create(
            Badge(name=name, measure=measure, target=target) for name, measure, target in BADGES
        )
    return Seeded(len(users), len(made), comments, likes, len(courses), enrollments, len(badges))


def _members(rng, count):
    User = get_user_model()
    people = [("Alice", "Martin")]
    seen = {people[0]}
    while len(people) < count:
        person = (rng.choice(FIRST[1:]), rng.choice(LAST))
        if person not in seen:
            seen.add(person)
            people.append(person)
    users = [
        User(
            username="alice" if i == 0 else f"{first}.{last}".lower(),
            first_name=first,
            last_name=last,
            email=f"{first}.{last}@example.com".lower(),
            password="!",  # unusable: members never log in
            date_joined=ANCHOR - timedelta(days=400 - i),
        )
        for i, (first, last) in enumerate(people)
    ]
    return User.objects.bulk_create(users)


def _activity(rng, users):
    """A long tail: a few members do most of the work."""
    return [1 / (rank + 1) ** 0.8 for rank in rng.sample(range(len(users)), len(users))]


def _projects(rng, users, sectors, tags, count):
    weights = _activity(rng, users)
    projects = Project.objects.bulk_create(
        Project(
            title=f"{rng.choice(WORDS)} {rng.choice(WORDS)} {rng.choice(KINDS)}",
            summary="",
            owner=rng.choices(users, weights)[0],
            sector=rng.choice(sectors),
            archived=rng.random() < 0.1,
            created_at=ANCHOR - timedelta(minutes=rng.randint(0, 365 * 24 * 60)),
        )
        for _ in range(count)
    )
    Through = Project.tags.through
    Through.objects.bulk_create(
        Through(project_id=project.pk, tag_id=tag.pk)
        for project in projects
        for tag in rng.sample(tags, rng.choice([0, 1, 2, 2, 3, 3, 4]))
    )
    return projects


def _reactions(rng, users, projects):
    weights = _activity(rng, users)
    popularity = [rng.paretovariate(1.5) for _ in projects]
    comments = [
        Comment(
            project=project,
            author=rng.choices(users, weights)[0],
            body=rng.choice(COMMENTS),
            created_at=project.created_at + timedelta(hours=rng.randint(1, 2000)),
        )
        for project in rng.choices(projects, popularity, k=len(projects) * 8)
    ]
    Comment.objects.bulk_create(comments)
    pairs = {
        (
            rng.choices(range(len(projects)), popularity)[0],
            rng.choices(range(len(users)), weights)[0],
        )
        for _ in range(len(projects) * 12)
    }
    Like.objects.bulk_create(
        Like(
            project=projects[p],
            user=users[u],
            created_at=projects[p].created_at + timedelta(hours=rng.randint(1, 3000)),
        )
        for p, u in sorted(pairs)
    )
    return len(comments), len(pairs)


def _courses(rng, users):
    instructors = rng.sample(users[1:], 8)
    courses = Course.objects.bulk_create(
        Course(title=title, instructor=rng.choice(instructors), price=Decimal(price))
        for title, price in COURSES
    )
    popularity = [rng.uniform(0.3, 3) for _ in courses]
    pairs = {
        (rng.choices(range(len(courses)), popularity)[0], rng.randrange(len(users)))
        for _ in range(1100)
    }
    statuses = [Enrollment.Status.ACTIVE, Enrollment.Status.COMPLETED, Enrollment.Status.REFUNDED]
    Enrollment.objects.bulk_create(
        Enrollment(
            course=courses[c],
            student=users[u],
            status=rng.choices(statuses, [55, 35, 10])[0],
            paid=courses[c].price,
            enrolled_at=ANCHOR - timedelta(minutes=rng.randint(0, 300 * 24 * 60)),
        )
        for c, u in sorted(pairs)
    )
    return courses, len(pairs)
