from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand

from insurer.roles import AUDITOR, CLERK, SUPERVISOR

DEMO_PASSWORD = "demo-pass-2026"
DEMO_USERS = (
    ("clerk", "担当 一郎", CLERK),
    ("supervisor", "管理 花子", SUPERVISOR),
    ("auditor", "監査 次郎", AUDITOR),
)


class Command(BaseCommand):
    help = "デモ用のログイン（担当者・管理者・監査）を作り、表示します。本番では使わないこと。"

    def add_arguments(self, parser):
        parser.add_argument(
            "--port", default="8000", help="表示するURLのポート（make run の PORT）"
        )

    def handle(self, *args, **options):
        User = get_user_model()
        for username, name, role in DEMO_USERS:
            user, _ = User.objects.get_or_create(username=username)
            family, given = name.split()
            user.last_name, user.first_name = family, given
            user.is_staff = True
            user.set_password(DEMO_PASSWORD)
            user.save()
            user.groups.set([Group.objects.get(name=role)])
        self.stdout.write(f"デモ用ログイン（http://127.0.0.1:{options['port']}/admin/）:")
        for username, _, role in DEMO_USERS:
            self.stdout.write(f"  {role:　<4} ユーザー名 {username:<10} パスワード {DEMO_PASSWORD}")
