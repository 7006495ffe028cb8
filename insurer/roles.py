"""The three roles and what each may do. The groups are created by a migration and kept
in line with this table after every ``migrate`` (new models bring new permissions).

Permissions not yet created (a model of a later migration) are skipped and picked up on
the next sync.
"""

from django.apps import apps as global_apps
from django.db.models import Q

CLERK = "担当者"
SUPERVISOR = "管理者"
AUDITOR = "監査"
ROLES = (CLERK, SUPERVISOR, AUDITOR)

# app_label.model -> actions, per role. "import"/"export" are the import-export codes.
_CLERK = {
    "insurer.insurer": ["view"],
    "insurer.office": ["view"],
    "insurer.insurersettings": ["view"],
    "members.member": ["view", "add", "change", "import", "export"],
    "members.mynastatus": ["view", "import"],
    "members.mynumber": ["add", "change"],
    "members.flag": ["view", "export"],
    "insurer.jobrun": ["view"],
    "certificates.certificate": ["view", "add", "change", "export", "print"],
    "certificates.application": ["view", "add", "change"],
    "certificates.lostcardcase": ["view", "add", "change"],
    "certificates.issuebatch": ["view"],
    "certificates.notice": ["view"],
    "certificates.envelope": ["view", "change"],  # record a return, confirm receipt
    "inquiries.category": ["view"],
    "inquiries.inquiry": ["view", "add", "change"],
    "inquiries.incident": ["view", "change"],
}
_SUPERVISOR = {
    "insurer.office": ["view", "add", "change", "import", "export"],
    "insurer.insurersettings": ["view", "change"],
    "members.member": ["view", "add", "change", "import", "export"],
    "members.mynastatus": ["view", "change", "import", "export"],  # change: undo a future as_of
    "members.mynumber": ["add", "change", "reveal"],
    "members.mynumberaccesslog": ["view"],
    "members.flag": ["view", "export"],
    "insurer.jobrun": ["view"],
    "certificates.certificate": ["view", "add", "change", "export", "print"],
    "certificates.application": ["view", "add", "change", "decide"],
    "certificates.lostcardcase": ["view", "add", "change"],
    "certificates.issuebatch": ["view", "release"],
    "certificates.notice": ["view"],
    "certificates.envelope": ["view", "change"],
    "certificates.certificateprintlog": ["view"],
    "certificates.downloadlog": ["view"],
    "inquiries.category": ["view", "change"],
    "inquiries.inquiry": ["view", "add", "change", "export"],
    "inquiries.incident": ["view", "change", "review"],
    "insurer.insurer": ["view", "add", "change", "import", "export", "dashboard"],
    "insurer.loginlock": ["view", "delete"],  # ログインのロック: see and unlock
}
_AUDITOR = {
    "insurer.insurer": ["view", "dashboard"],
    "insurer.office": ["view"],
    "insurer.insurersettings": ["view"],
    "members.member": ["view", "export"],
    "members.mynastatus": ["view"],
    "members.mynumberaccesslog": ["view"],
    "members.flag": ["view", "export"],
    "insurer.jobrun": ["view"],
    "certificates.certificate": ["view", "export"],
    "certificates.application": ["view"],
    "certificates.lostcardcase": ["view"],
    "certificates.issuebatch": ["view"],
    "certificates.notice": ["view"],
    "certificates.envelope": ["view"],
    "certificates.certificateprintlog": ["view"],
    "certificates.downloadlog": ["view"],
    "inquiries.category": ["view"],
    "inquiries.inquiry": ["view", "export"],
    "inquiries.incident": ["view"],
}

ROLE_PERMISSIONS: dict[str, dict[str, list[str]]] = {
    CLERK: _CLERK,
    SUPERVISOR: _SUPERVISOR,
    AUDITOR: _AUDITOR,
}


def role_permission_codes(role: str) -> set[tuple[str, str]]:
    """(app_label, codename) pairs for a role."""
    codes = set()
    for model_label, actions in ROLE_PERMISSIONS[role].items():
        app_label, model_name = model_label.split(".")
        codes.update((app_label, f"{action}_{model_name}") for action in actions)
    return codes


def sync_role_permissions(sender=None, apps=global_apps, **kwargs) -> None:
    """Create the role groups and set exactly their permissions."""
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role in ROLES:
        group, _ = Group.objects.get_or_create(name=role)
        wanted = Q(pk__in=[])
        for app_label, codename in role_permission_codes(role):
            wanted |= Q(content_type__app_label=app_label, codename=codename)
        group.permissions.set(Permission.objects.filter(wanted))
