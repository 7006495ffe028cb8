"""Imports of the insurer and its offices (spec/files.md: insurer.csv, offices.csv)."""

from import_export.fields import Field

from .imports import DigitsWidget, RequiredTextWidget, StrictModelResource, TextWidget
from .models import Insurer, Office

COLUMNS = ("name", "postal_code", "address", "phone")


class ContactColumns(StrictModelResource):
    """The name and contact columns both files share."""

    name = Field("name", "name", widget=RequiredTextWidget())
    postal_code = Field("postal_code", "postal_code", widget=TextWidget())
    address = Field("address", "address", widget=TextWidget())
    phone = Field("phone", "phone", widget=TextWidget())


class InsurerResource(ContactColumns):
    insurer_number = Field("insurer_number", "insurer_number", widget=RequiredTextWidget())
    address = Field("address", "address", widget=RequiredTextWidget())  # printed on certificates

    key_columns = ("insurer_number",)
    columns = ("insurer_number", *COLUMNS)
    change_reason = "ファイル取込（insurer.csv）"

    class Meta:
        model = Insurer
        fields = ("insurer_number", *COLUMNS)
        import_id_fields = ("insurer_number",)
        clean_model_instances = True
        skip_unchanged = True
        report_skipped = True


class OfficeResource(ContactColumns):
    symbol = Field("symbol", "symbol", widget=DigitsWidget(min_length=1, max_length=8))

    key_columns = ("symbol",)
    columns = ("symbol", *COLUMNS)
    change_reason = "ファイル取込（offices.csv）"

    class Meta:
        model = Office
        fields = ("symbol", *COLUMNS)
        import_id_fields = ("symbol",)
        clean_model_instances = True
        skip_unchanged = True
        report_skipped = True
