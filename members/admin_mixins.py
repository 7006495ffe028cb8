"""Admin pieces other apps reuse for lists of things that belong to a member."""

from members.models import Member
from members.selectors import member_search


class MemberSearchMixin:
    """The search box finds the rows of the member a clerk types: 記号・番号・枝番, kana
    (any script or width) or name — the same indexed routes as the member list."""

    member_field = "member"
    search_fields = ("member__kana_search",)  # shows the box; get_search_results does the work
    search_help_text = "加入者の記号・番号・枝番、カナまたは氏名で探します。"

    def get_search_results(self, request, queryset, search_term):
        if not (search_term or "").strip():
            return queryset, False
        members = member_search(Member.objects.all(), search_term).values("pk")
        return queryset.filter(**{f"{self.member_field}__in": members}), False
