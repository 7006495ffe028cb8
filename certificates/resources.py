"""Certificate export (spec/files.md: CertificateResource). Export only."""

from import_export import resources
from import_export.fields import Field

from insurer.imports import DateWidget

from .models import Certificate

CERTIFICATE_COLUMNS = (
    "symbol",
    "number",
    "branch",
    "relationship",
    "family_name",
    "given_name",
    "birth_date",
    "sex",
    "insurer_number",
    "acquired_on",
    "issued_on",
    "valid_from",
    "valid_until",
    "copay",
    "reason",
    "status",
)
DATE_COLUMNS = {"birth_date", "acquired_on", "issued_on", "valid_from", "valid_until"}


class CertificateResource(resources.ModelResource):
    """The printed data as issued; never a My Number."""

    copay = Field("copay", "copay")

    class Meta:
        model = Certificate
        fields = CERTIFICATE_COLUMNS
        export_order = CERTIFICATE_COLUMNS
        widgets = {name: {"format": "%Y-%m-%d"} for name in DATE_COLUMNS}

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        for name in DATE_COLUMNS:
            self.fields[name].widget = DateWidget()

    def dehydrate_copay(self, certificate: Certificate) -> str:
        return str(certificate.copay) if certificate.copay else ""

    def get_queryset(self):
        return Certificate.objects.order_by("symbol", "number", "branch", "valid_from")

    def import_data(self, *args, **kwargs):
        raise NotImplementedError("資格確認書はファイルから取り込みません。")
