from django.contrib import admin

from projects.models import Comment, Like, Project, Sector, Tag


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ("title", "owner", "sector", "archived", "created_at")
    list_filter = ("archived", "sector")
    list_select_related = ("owner", "sector")
    search_fields = ("title",)
    raw_id_fields = ("owner",)


@admin.register(Comment)
class CommentAdmin(admin.ModelAdmin):
    list_display = ("project", "author", "created_at")
    list_select_related = ("project", "author")
    raw_id_fields = ("project", "author")


admin.site.register(Like, raw_id_fields=("project", "user"))
admin.site.register(Sector)
admin.site.register(Tag)
