from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django_otp.plugins.otp_totp.models import TOTPDevice

from insurer.logins import otp_required
from insurer.roles import AUDITOR, CLERK, SUPERVISOR

DEMO_PASSWORD = "demo-pass-2026"
DEMO_USERS = (
    ("clerk", "担当 一郎", CLERK),
    ("supervisor", "管理 花子", SUPERVISOR),
    ("auditor", "監査 次郎", AUDITOR),
)


class Command(BaseCommand):
    help = (
        "デモ用のログイン（担当者・管理者・監査）を作り、表示します。"
        "DJANGO_DEBUG=1 のときだけ動きます（本番では拒否）。"
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--port", default="8000", help="表示するURLのポート（make run の PORT）"
        )

    @transaction.atomic
    def handle(self, *args, **options):
        if not settings.DEBUG:
            raise CommandError(
                "デモ用ログインは本番（DJANGO_DEBUG=0）では作れません。"
                "ユーザーは createsuperuser と管理画面で作り、"
                "管理者・監査には otp_setup で確認コードの端末を登録してください。"
            )
        User = get_user_model()
        devices = {}
        for username, name, role in DEMO_USERS:
            user, _ = User.objects.get_or_create(username=username)
            family, given = name.split()
            user.last_name, user.first_name = family, given
            user.is_staff = True
            user.set_password(DEMO_PASSWORD)
            user.save()
            user.groups.set([Group.objects.get(name=role)])
            user = User.objects.get(pk=user.pk)  # fresh permission cache
            if otp_required(user):
                # Kept across runs, so an authenticator app that read it keeps working.
                devices[username], _ = TOTPDevice.objects.get_or_create(
                    user=user, defaults={"name": "デモ", "confirmed": True}
                )
        self.stdout.write(f"デモ用ログイン（http://127.0.0.1:{options['port']}/admin/）:")
        for username, _, role in DEMO_USERS:
            line = f"  {role:　<4} ユーザー名 {username:<10} パスワード {DEMO_PASSWORD}"
            if username in devices:
                line += "  確認コード: 必要"
            self.stdout.write(line)
        self.stdout.write(
            "管理者・監査の確認コードは `DJANGO_DEBUG=1 .venv/bin/python manage.py demo_otp_code "
            "supervisor` で表示されます（30秒ごとに変わります）。認証アプリで試すときは "
            "`manage.py otp_setup supervisor --replace` の QR コードを読み取ります。"
        )
