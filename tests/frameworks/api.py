"""Django REST framework: nested, many=True, dotted-source, method and
string-related fields, a viewset with ``queryset =`` and list views with
``get_queryset()`` and pagination."""

from rest_framework import generics, serializers, viewsets
from rest_framework.pagination import PageNumberPagination

from tests.testapp.models import Author, Book, Chapter, Tag


class AuthorSerializer(serializers.ModelSerializer):
    class Meta:
        model = Author
        fields = ["name"]


class TagSerializer(serializers.ModelSerializer):
    class Meta:
        model = Tag
        fields = ["name"]


class BookSerializer(serializers.ModelSerializer):
    author = AuthorSerializer()
    tags = TagSerializer(many=True)
    chapter_ids = serializers.PrimaryKeyRelatedField(many=True, read_only=True, source="chapters")

    class Meta:
        model = Book
        fields = ["title", "author", "tags", "chapter_ids"]


class BookViewSet(viewsets.ModelViewSet):
    queryset = Book.objects.all()
    serializer_class = BookSerializer


class BookSummarySerializer(serializers.ModelSerializer):
    country = serializers.CharField(source="author.publisher.country.name")
    tag_names = serializers.SerializerMethodField()

    class Meta:
        model = Book
        fields = ["title", "country", "tag_names"]

    def get_tag_names(self, obj):
        return [tag.name for tag in obj.tags.all()]


class Pages(PageNumberPagination):
    page_size = 100


class BookSummaryList(generics.ListAPIView):
    serializer_class = BookSummarySerializer
    pagination_class = Pages

    def get_queryset(self):
        return Book.objects.order_by("title")


class ChapterSerializer(serializers.ModelSerializer):
    book = serializers.StringRelatedField()

    class Meta:
        model = Chapter
        fields = ["title", "book"]


class ChapterList(generics.ListAPIView):
    queryset = Chapter.objects.order_by("pk")
    serializer_class = ChapterSerializer


class AuthorTotalSerializer(serializers.ModelSerializer):
    book_total = serializers.SerializerMethodField()

    class Meta:
        model = Author
        fields = ["name", "book_total"]

    def get_book_total(self, obj):
        return obj.books.count()


class AuthorList(generics.ListAPIView):
    queryset = Author.objects.order_by("name")
    serializer_class = AuthorTotalSerializer


class BookAuthorSerializer(serializers.ModelSerializer):
    author = serializers.StringRelatedField()

    class Meta:
        model = Book
        fields = ["title", "author"]


class ChapterBookSerializer(serializers.ModelSerializer):
    book = BookAuthorSerializer()

    class Meta:
        model = Chapter
        fields = ["title", "book"]


class ChapterBookList(generics.ListAPIView):
    queryset = Chapter.objects.order_by("pk")
    serializer_class = ChapterBookSerializer
