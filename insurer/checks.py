from django.apps import apps
from django.core import checks

DOMAIN_APPS = {"insurer", "members", "certificates", "inquiries"}
# Append-only logs are their own audit trail; they are never edited, so need no history.
# The worklist's flags and job runs are written once and closed with a date and the run
# that closed them; they carry their own trail.
NO_HISTORY = {
    "members.MyNumberAccessLog",
    "insurer.LoginLock",  # django-axes' failure records; an unlock is logged
    "members.MyNumberHashKey",  # one row, rewritten only by rehash_my_numbers
    "members.Flag",
    "insurer.JobRun",
    "insurer.ImportRun",  # a run of a confirmed import: its progress and its outcome
    "certificates.CertificatePrintLog",
    "certificates.DownloadLog",
    # A batch's rendering state (progress, attempts, which worker): the batch's own history
    # records every start, completion and failure of its rendering.
    "certificates.BatchPart",
}


@checks.register(checks.Tags.models)
def check_domain_models_have_history(app_configs, **kwargs) -> list[checks.CheckMessage]:
    errors = []
    for model in apps.get_models():
        label = model._meta.label
        if (
            model._meta.app_label in DOMAIN_APPS
            and not label.startswith(f"{model._meta.app_label}.Historical")
            and label not in NO_HISTORY
            and not hasattr(model, "history")
        ):
            errors.append(
                checks.Error(
                    f"{label} に変更履歴（simple-history）がありません。",
                    hint="history = HistoricalRecords() を追加してください。",
                    obj=model,
                    id="insurer.E001",
                )
            )
    return errors
