import pytest

from insurer.models import Insurer, Office
from tests.importing import run_import, write_csv

INSURER = "insurer.resources.InsurerResource"
OFFICES = "insurer.resources.OfficeResource"
OFFICE_HEADER = "symbol,name,postal_code,address,phone"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("encoding", "option"), [("utf-8", None), ("utf-8-sig", None), ("cp932", "cp932")]
)
def test_insurer_import(tmp_path, encoding, option):
    path = write_csv(
        tmp_path,
        "insurer.csv",
        [
            "insurer_number,name,postal_code,address,phone",
            "06130090,東京ソフトウェア健康保険組合,100-0001,東京都千代田区千代田1-1,03-1234-5678",
        ],
        encoding,
    )
    run = run_import(INSURER, path, encoding=option)
    assert run.ok, run.stderr
    insurer = Insurer.objects.get()
    assert (insurer.insurer_number, insurer.name) == ("06130090", "東京ソフトウェア健康保険組合")
    assert insurer.history.get().history_change_reason == "ファイル取込（insurer.csv）"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("number", "reason"),
    [
        ("06130091", "検証番号"),
        ("33120015", "法別番号"),
        ("0613009", "半角数字8桁"),
    ],
)
def test_insurer_import_rejects_bad_numbers(tmp_path, number, reason):
    path = write_csv(
        tmp_path,
        "insurer.csv",
        [
            "insurer_number,name,postal_code,address,phone",
            f"{number},保険組合,,東京都,",
        ],
    )
    run = run_import(INSURER, path)
    assert not run.ok
    assert Insurer.objects.count() == 0
    assert any(
        line.startswith("2行目 [insurer_number]") and reason in line for line in run.problems
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("encoding", "option"), [("utf-8", None), ("utf-8-sig", None), ("cp932", "cp932")]
)
def test_office_import_and_update(tmp_path, encoding, option):
    path = write_csv(
        tmp_path,
        "offices.csv",
        [
            OFFICE_HEADER,
            "1001,株式会社サンプル 本社,100-0001,東京都千代田区,03-1111-1111",
            "1002,サンプル工業,,大阪府大阪市,",
        ],
        encoding,
    )
    assert run_import(OFFICES, path, encoding=option).ok
    path = write_csv(
        tmp_path,
        "offices.csv",
        [OFFICE_HEADER, "1001,株式会社サンプル 東京本社,,東京都,"],
        encoding,
    )
    run = run_import(OFFICES, path, encoding=option)
    assert run.ok
    assert "更新 1件" in run.stdout
    assert Office.objects.get(symbol="1001").name == "株式会社サンプル 東京本社"
    assert Office.objects.count() == 2


@pytest.mark.django_db
def test_bad_office_file_writes_nothing_and_reports_each_row(tmp_path):
    path = write_csv(
        tmp_path,
        "offices.csv",
        [
            OFFICE_HEADER,
            "1001,良い事業所,,東京都,",
            "10A1,記号に文字,,東京都,",
            "1003,,,東京都,",
            "1001,重複,,東京都,",
        ],
    )
    run = run_import(OFFICES, path)
    assert not run.ok
    assert Office.objects.count() == 0
    assert run.problems == [
        "3行目 [symbol]: 半角数字1〜8桁で入力してください（値: 10A1）。",
        "4行目 [name]: 必須項目です。",
        "5行目 [symbol]: 同じキーの行がファイル内の 2行目にもあります。",
    ]
    assert "3件の誤り" in run.error


@pytest.mark.django_db
def test_missing_columns_are_reported_for_the_whole_file(tmp_path):
    path = write_csv(tmp_path, "offices.csv", ["symbol,name", "1001,本社"])
    run = run_import(OFFICES, path)
    assert not run.ok
    assert run.problems == ["ファイル全体: 必須の列がありません: postal_code, address, phone"]


@pytest.mark.django_db
def test_dry_run_writes_nothing(tmp_path):
    path = write_csv(tmp_path, "offices.csv", [OFFICE_HEADER, "1001,本社,,東京都,"])
    run = run_import(OFFICES, path, dry_run=True)
    assert run.ok
    assert "--dry-run" in run.stdout
    assert Office.objects.count() == 0


@pytest.mark.django_db
def test_a_cp932_file_read_as_utf8_falls_back_and_a_wrong_explicit_encoding_is_explained(tmp_path):
    path = write_csv(
        tmp_path, "offices.csv", [OFFICE_HEADER, "1001,株式会社サンプル,,東京都,"], "cp932"
    )
    assert run_import(OFFICES, path).ok  # default: UTF-8, then CP932
    assert Office.objects.get().name == "株式会社サンプル"
    utf8 = write_csv(tmp_path, "utf8.csv", [OFFICE_HEADER, "1002,株式会社サンプル工業,,東京都,"])
    run = run_import(OFFICES, utf8, encoding="ascii")
    assert not run.ok
    assert "文字コード ascii として読めません" in run.error


def test_every_insurer_setting_is_on_the_supervisors_form():
    """A setting missing from the fieldsets could never be changed in the admin."""
    from django.contrib import admin

    from insurer.models import InsurerSettings

    model_admin = admin.site._registry[InsurerSettings]
    shown = {name for _, options in model_admin.fieldsets for name in options["fields"]}
    editable = {
        field.name
        for field in InsurerSettings._meta.get_fields()
        if getattr(field, "editable", False) and not field.auto_created
    }
    assert editable - shown == set()
