"""Issue 11: the member search a clerk runs all day stays on its indexes, in the
register's 記号番号 order, with as many queries for 40 matches as for 3 (the list and the
autocomplete the inquiry form uses)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

import members.selectors as selectors
from members.models import NUMERIC_KEY_ORDER, Member
from members.selectors import (
    NUMERIC_KEY_ORDER_AFTER_MATCH,
    member_search,
    member_search_in_key_order,
)
from tests.factories import MemberFactory

LIST = reverse("admin:members_member_changelist")
AUTOCOMPLETE = reverse("admin:autocomplete")
MEMBER_FIELD = {"app_label": "inquiries", "model_name": "inquiry", "field_name": "member"}


def make(office, numbers, kana="ヤマダ"):
    return [MemberFactory(office=office, number=str(n), family_name_kana=kana) for n in numbers]


def search_sql(queries) -> list[str]:
    return [q["sql"] for q in queries if "members_member" in q["sql"] and "LIKE" in q["sql"]]


@pytest.mark.django_db
def test_list_search_queries_do_not_grow_with_matches(clerk_client, office):
    make(office, range(1, 4))
    url = LIST + "?q=やまだ"
    clerk_client.get(url)  # session and permission caches
    with CaptureQueriesContext(connection) as small:
        assert len(clerk_client.get(url).context["cl"].result_list) == 3
    make(office, range(100, 140))
    with CaptureQueriesContext(connection) as large:
        assert len(clerk_client.get(url).context["cl"].result_list) == 43
    assert len(large) == len(small)
    # A prefix the index serves: no leading wildcard, no UPPER() around the column.
    for sql in search_sql(large.captured_queries):
        assert "'ヤマダ%'" in sql, sql
        assert "UPPER(" not in sql.upper().replace("UPPER('", ""), sql
        assert "'%ヤマダ" not in sql, sql


@pytest.mark.django_db
def test_autocomplete_for_the_inquiry_form_searches_by_prefix(clerk_client, office):
    make(office, [2, 10, 1])
    MemberFactory(office=office, number="50", family_name_kana="タナカ")
    params = {**MEMBER_FIELD, "term": "やまだ"}
    clerk_client.get(AUTOCOMPLETE, params)
    with CaptureQueriesContext(connection) as small:
        response = clerk_client.get(AUTOCOMPLETE, params)
    keys = [result["text"].split()[0] for result in response.json()["results"]]
    assert keys == ["1001-1-00", "1001-2-00", "1001-10-00"]  # 記号番号 order, numbers as numbers
    make(office, range(100, 120))
    with CaptureQueriesContext(connection) as large:
        assert len(clerk_client.get(AUTOCOMPLETE, params).json()["results"]) == 20  # one page
    assert len(large) == len(small)
    for sql in search_sql(large.captured_queries):
        assert "'ヤマダ%'" in sql and "'%ヤマダ" not in sql, sql


@pytest.mark.django_db
def test_a_sparse_name_search_sorts_its_matches_in_the_same_order(office, monkeypatch):
    make(office, [2, 10, 1])
    make(office, [3], kana="タナカ")
    base = Member.objects.order_by(*NUMERIC_KEY_ORDER)
    found = member_search_in_key_order(base, "ヤマダ")
    assert found.query.order_by == NUMERIC_KEY_ORDER_AFTER_MATCH  # not the index walk
    assert [m.number for m in found] == ["1", "2", "10"]
    assert list(found) == list(member_search(base, "ヤマダ"))

    # Many matches: the register's own order, read off member_numeric_key.
    monkeypatch.setattr(selectors, "SPARSE_MATCHES", 2)
    dense = member_search_in_key_order(base, "ヤマダ")
    assert dense.query.order_by == NUMERIC_KEY_ORDER
    assert list(dense) == list(found)


@pytest.mark.django_db
def test_the_search_keeps_an_order_the_clerk_chose_and_keys_go_by_key(office):
    make(office, [2, 1])
    by_birth = Member.objects.order_by("-birth_date", "pk")
    assert member_search_in_key_order(by_birth, "ヤマダ").query.order_by == ("-birth_date", "pk")
    base = Member.objects.order_by(*NUMERIC_KEY_ORDER)
    by_key = member_search_in_key_order(base, "1001-2")
    assert by_key.query.order_by == NUMERIC_KEY_ORDER
    assert [m.number for m in by_key] == ["2"]


@pytest.mark.django_db
def test_the_list_sorted_by_a_column_keeps_that_order(clerk_client, office):
    make(office, [1, 2])
    MemberFactory(office=office, number="3", family_name_kana="ヤマダ", birth_date="1950-01-01")
    cl = clerk_client.get(LIST + "?q=ヤマダ&o=-4").context["cl"]  # 生年月日, descending
    assert [m.number for m in cl.result_list] == ["1", "2", "3"]
    assert NUMERIC_KEY_ORDER_AFTER_MATCH[0] not in cl.queryset.query.order_by
    # Without a chosen column the same search is sorted after the match.
    cl = clerk_client.get(LIST + "?q=ヤマダ").context["cl"]
    assert cl.queryset.query.order_by == NUMERIC_KEY_ORDER_AFTER_MATCH
    assert [m.number for m in cl.result_list] == ["1", "2", "3"]
